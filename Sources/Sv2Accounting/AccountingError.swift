/// Why an accounting store could not be opened, written or read.
public enum AccountingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// SQLite returned `code` for `operation` (with its message).
    case sqlite(operation: String, code: Int32, message: String)
    /// A PostgreSQL operation failed.
    case postgres(operation: String, message: String)
    /// The `--accounting` value is not `sqlite:PATH` or `postgres://…`.
    case invalidLocation(String)
    /// A directory for the database could not be created.
    case system(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .sqlite(let operation, let code, let message): "SQLite \(operation) failed (\(code)): \(message)"
        case .postgres(let operation, let message): "PostgreSQL \(operation) failed: \(message)"
        case .invalidLocation(let text): "invalid accounting location \(text) (expected sqlite:PATH or postgres://…)"
        case .system(let call, let path, let errno): "\(call)(\(path)) failed: errno \(errno)"
        }
    }
}
