/// Why a line from an Sv1 peer could not be used.
public enum Sv1ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A line (or an unterminated tail) is longer than the cap: the connection must be closed.
    case lineTooLong(limit: Int)
    /// Not a JSON object.
    case malformedJSON
    /// A JSON object, but not a JSON-RPC request, response or notification.
    case notJSONRPC
    /// A known method whose `params` do not have the expected shape.
    case invalidParams(method: String, reason: String)

    public var description: String {
        switch self {
        case .lineTooLong(let limit): "line longer than \(limit) bytes"
        case .malformedJSON: "malformed JSON"
        case .notJSONRPC: "not a JSON-RPC message"
        case .invalidParams(let method, let reason): "invalid params for \(method): \(reason)"
        }
    }
}
