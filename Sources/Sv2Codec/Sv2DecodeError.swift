/// A malformed Sv2 frame or message: names the message, the field and the byte offset where decoding stopped.
public struct Sv2DecodeError: Error, Equatable, CustomStringConvertible {
    /// Why decoding failed.
    public enum Reason: Sendable, Equatable {
        /// The field needs `needed` bytes but only `available` remain in the payload.
        case truncated(needed: Int, available: Int)
        /// A length or count prefix exceeds what the field's type allows.
        case lengthExceedsLimit(length: Int, limit: Int)
        /// An `OPTION` tag other than 0 or 1.
        case invalidOptionTag(UInt8)
    }

    /// The message being decoded (`nil` for frame-level errors).
    public let message: Sv2MessageType?
    /// The field (wire name) being decoded.
    public let field: StaticString
    /// Offset of the field within the payload.
    public let offset: Int
    /// What was wrong.
    public let reason: Reason

    /// Creates an error.
    public init(message: Sv2MessageType?, field: StaticString, offset: Int, reason: Reason) {
        self.message = message
        self.field = field
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        let name = message.map { "\($0)" } ?? "frame"
        return "malformed \(name): field \(field) at offset \(offset): \(reason)"
    }

    public static func == (lhs: Sv2DecodeError, rhs: Sv2DecodeError) -> Bool {
        lhs.message == rhs.message && lhs.field.description == rhs.field.description && lhs.offset == rhs.offset
            && lhs.reason == rhs.reason
    }
}

/// An owned message that cannot be encoded as it stands, or an output buffer that is too small.
public struct Sv2EncodeError: Error, Equatable, CustomStringConvertible {
    /// Why encoding failed.
    public enum Reason: Sendable, Equatable {
        /// A byte string, string or sequence is longer than its Sv2 type allows.
        case lengthExceedsLimit(length: Int, limit: Int)
        /// The output buffer has `available` bytes; the encoding needs `needed`.
        case bufferTooSmall(needed: Int, available: Int)
    }

    /// The message being encoded (`nil` for frame-level errors).
    public let message: Sv2MessageType?
    /// The offending field (wire name).
    public let field: StaticString
    /// What was wrong.
    public let reason: Reason

    /// Creates an error.
    public init(message: Sv2MessageType?, field: StaticString, reason: Reason) {
        self.message = message
        self.field = field
        self.reason = reason
    }

    public var description: String {
        let name = message.map { "\($0)" } ?? "frame"
        return "cannot encode \(name): field \(field): \(reason)"
    }

    public static func == (lhs: Sv2EncodeError, rhs: Sv2EncodeError) -> Bool {
        lhs.message == rhs.message && lhs.field.description == rhs.field.description && lhs.reason == rhs.reason
    }
}
