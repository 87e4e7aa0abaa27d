/// Where the ledger lives, as given to `--accounting`: `sqlite:PATH` (or a bare path), `postgres://…`, or `off`.
public enum AccountingLocation: Sendable, Hashable, CustomStringConvertible {
    /// A SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL connection URL.
    case postgres(url: String)
    /// No accounting: the pool acknowledges as without a ledger.
    case off

    /// Parses `sqlite:PATH`, `postgres://…` / `postgresql://…`, `off`, or a bare path (SQLite).
    public init(parsing text: String) throws(AccountingError) {
        if text == "off" || text == "none" {
            self = .off
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw .invalidLocation(text) }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else if !text.isEmpty, !text.contains("://") {
            self = .sqlite(path: text)
        } else {
            throw .invalidLocation(text)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        // Never print a password that may be in the URL.
        case .postgres: "postgres://…"
        case .off: "off"
        }
    }
}
