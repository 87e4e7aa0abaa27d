import CSQLite

/// A thin owner of one `sqlite3` connection (Debian's libsqlite3): open, execute, prepared statements.
///
/// Not thread-safe: one thread uses it at a time (the ledger's writer, or a reader command).
final class SQLiteConnection {
    let path: String
    private(set) var handle: OpaquePointer?

    /// Opens (creating) `path`; `readOnly` opens an existing file only.
    init(path: String, readOnly: Bool = false) throws(AccountingError) {
        self.path = path
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let code = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw .sqlite(operation: "open \(path)", code: code, message: message)
        }
        // Another process (a reader command, a replay) may hold the lock for a moment.
        sqlite3_busy_timeout(handle, 5000)
    }

    deinit { sqlite3_close_v2(handle) }

    var errorMessage: String { handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed" }

    /// Runs one or more statements without results.
    func execute(_ sql: String) throws(AccountingError) {
        var error: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &error)
        guard code == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(error)
            throw .sqlite(operation: "exec \(sql.prefix(60))", code: code, message: message)
        }
    }

    /// Prepares a statement (kept by the caller and reused).
    func prepare(_ sql: String) throws(AccountingError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw .sqlite(operation: "prepare \(sql.prefix(60))", code: code, message: errorMessage)
        }
        return SQLiteStatement(statement, connection: self)
    }
}

/// A prepared statement: bind by 1-based index, step, read columns, reset.
final class SQLiteStatement {
    private let statement: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(_ statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    deinit { sqlite3_finalize(statement) }

    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(statement, index, value) }
    func bind(_ index: Int32, _ value: Double) { sqlite3_bind_double(statement, index, value) }
    func bind(_ index: Int32, _ value: String) {
        // The explicit length keeps an embedded NUL (user identities are untrusted) from truncating the text.
        let length = Int32(clamping: value.utf8.count)
        _ = value.withCString { csqlite_bind_text_transient(statement, index, $0, length) }
    }
    func bindNull(_ index: Int32) { sqlite3_bind_null(statement, index) }
    func bind(_ index: Int32, _ value: Int64?) { if let value { bind(index, value) } else { bindNull(index) } }

    /// Steps once: `true` with a row to read, `false` when done.
    func step() throws(AccountingError) -> Bool {
        let code = sqlite3_step(statement)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = connection.errorMessage
            sqlite3_reset(statement)
            throw .sqlite(operation: "step", code: code, message: message)
        }
    }

    /// Steps a statement that returns no rows, then resets it for the next use.
    func run() throws(AccountingError) {
        defer { reset() }
        _ = try step()
    }

    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: text)
    }
}
