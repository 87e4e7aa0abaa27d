/// A JSON-RPC request id as Sv1 peers send it: a number (most firmware), a string, or null.
public enum Sv1ID: Hashable, Sendable, CustomStringConvertible {
    /// An integer id.
    case number(Int64)
    /// A string id.
    case string(String)
    /// `null` (or absent).
    case null

    /// The id as JSON text.
    public var description: String {
        switch self {
        case .number(let value): String(value)
        case .string(let value): Sv1JSON.quote(value)
        case .null: "null"
        }
    }
}
