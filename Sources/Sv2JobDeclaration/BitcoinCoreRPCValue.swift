import Foundation
import Sv2Mining

/// A JSON value of a Bitcoin Core JSON-RPC request or answer. Decoded with Foundation's `JSONDecoder` (RPC answers
/// are rare and off the share path); encoded by ``jsonText``.
public enum BitcoinCoreRPCValue: Sendable, Equatable, Decodable {
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// A number (Bitcoin Core's integers fit a `Double` exactly up to 2^53).
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([BitcoinCoreRPCValue])
    /// An object.
    case object([String: BitcoinCoreRPCValue])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([BitcoinCoreRPCValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: BitcoinCoreRPCValue].self))
        }
    }

    /// Deepest nesting accepted (bitcoind's answers nest a few levels; decoding recurses once per level).
    static let maximumDepth = 64

    /// Parses one JSON document; `nil` if it is not JSON or nests deeper than ``maximumDepth``.
    static func parse(_ bytes: [UInt8]) -> BitcoinCoreRPCValue? {
        guard depth(of: bytes) <= maximumDepth else { return nil }
        return try? JSONDecoder().decode(BitcoinCoreRPCValue.self, from: Data(bytes))
    }

    /// The deepest nesting of arrays and objects in JSON text (brackets inside strings ignored); one pass.
    static func depth(of bytes: [UInt8]) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = Swift.max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    /// The string, if this is one.
    public var string: String? { if case .string(let value) = self { value } else { nil } }
    /// The number as an integer, if this is a whole number in `Int`'s range.
    public var int: Int? {
        guard case .number(let value) = self, value == value.rounded(), abs(value) < 9.0e15 else { return nil }
        return Int(value)
    }
    /// The elements, if this is an array.
    public var array: [BitcoinCoreRPCValue]? { if case .array(let value) = self { value } else { nil } }
    /// The members, if this is an object.
    public var object: [String: BitcoinCoreRPCValue]? { if case .object(let value) = self { value } else { nil } }
    /// The member `key`, if this is an object that has it.
    public subscript(key: String) -> BitcoinCoreRPCValue? { object?[key] }

    /// The value as JSON text.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value):
            if let whole = int { return String(whole) }
            return value.isFinite ? "\(value)" : "null"
        case .string(let value): return Self.quoted(value)
        case .array(let values): return "[" + values.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.sorted { $0.key < $1.key }.map { Self.quoted($0.key) + ":" + $0.value.jsonText }
                .joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal (see `JSONStringLiteral`).
    static func quoted(_ text: String) -> String { JSONStringLiteral.quoted(text) }
}
