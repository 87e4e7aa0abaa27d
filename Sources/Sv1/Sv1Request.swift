import Foundation

/// One request a Sv1 device sends, parsed.
public struct Sv1Request: Sendable, Hashable {
    /// The request id, echoed in the answer.
    public var id: Sv1ID
    /// The method and its parameters.
    public var method: Sv1Method

    /// Creates a request.
    public init(id: Sv1ID, method: Sv1Method) {
        self.id = id
        self.method = method
    }

    /// Parses one line (without its newline).
    ///
    /// Uses Foundation's `JSONSerialization`: the measurement in Docs/Translator.md ("Throughput") shows it parses
    /// far more submits per second than 10,000 devices at 20 shares a minute need, so no specialised parser is
    /// warranted.
    ///
    /// Throws ``Sv1ProtocolError/malformedJSON`` for anything that is not a JSON object,
    /// ``Sv1ProtocolError/notJSONRPC`` for an object without a string `method`, and
    /// ``Sv1ProtocolError/invalidParams(method:reason:)`` for a known method with bad params (the id, when it
    /// could be read, is in ``Sv1RequestError``).
    public init(line: UnsafeRawBufferPointer) throws(Sv1RequestError) {
        let object = try Sv1Request.object(line)
        let id = Sv1Request.id(object["id"])
        guard let name = object["method"] as? String else { throw Sv1RequestError(id: id, error: .notJSONRPC) }
        let params = object["params"] as? [Any] ?? []
        do throws(Sv1ProtocolError) {
            self.init(id: id, method: try Sv1Method(name: name, params: params))
        } catch {
            throw Sv1RequestError(id: id, error: error)
        }
    }

    /// Parses one line given as a string.
    public init(line: String) throws(Sv1RequestError) {
        var text = line
        let parsed: Result<Sv1Request, Sv1RequestError> = text.withUTF8 { utf8 in
            do throws(Sv1RequestError) {
                return .success(try Sv1Request(line: UnsafeRawBufferPointer(utf8)))
            } catch {
                return .failure(error)
            }
        }
        self = try parsed.get()
    }

    static func object(_ line: UnsafeRawBufferPointer) throws(Sv1RequestError) -> [String: Any] {
        guard let value = try? JSONSerialization.jsonObject(with: Data(line), options: []),
              let object = value as? [String: Any]
        else { throw Sv1RequestError(id: .null, error: .malformedJSON) }
        return object
    }

    static func id(_ value: Any?) -> Sv1ID {
        if let text = value as? String { return .string(text) }
        if let number = value as? NSNumber, !Sv1Request.isBool(number) {
            let double = number.doubleValue
            if double == double.rounded(), abs(double) < 9e18 { return .number(Int64(double)) }
        }
        return .null
    }

    /// Whether a JSON value Foundation decoded is `true`/`false`: NSNumber boxes booleans too (and `1 as? Bool`
    /// succeeds), so the boxed type is what tells them apart (`c`, a C `BOOL`, on both Darwin and Linux).
    static func isBool(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// A JSON number (not a boolean) as a `Double`.
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBool(number) else { return nil }
        return number.doubleValue
    }

    /// A JSON number that is a whole number within `range` (nil otherwise: a peer's 1e300 or 2.5 never reaches an
    /// `Int(_:)` conversion, which would trap).
    static func integer(_ value: Any?, in range: ClosedRange<Int>) -> Int? {
        guard let number = number(value), number.isFinite, number.rounded() == number,
              number >= Double(range.lowerBound), number <= Double(range.upperBound)
        else { return nil }
        return Int(number)
    }
}

/// A request that could not be parsed, with its id when the line was JSON enough to have one.
public struct Sv1RequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The request's id (`.null` when unknown).
    public var id: Sv1ID
    /// What was wrong.
    public var error: Sv1ProtocolError

    /// Creates the error.
    public init(id: Sv1ID, error: Sv1ProtocolError) {
        self.id = id
        self.error = error
    }

    public var description: String { "\(error) (id \(id))" }
}
