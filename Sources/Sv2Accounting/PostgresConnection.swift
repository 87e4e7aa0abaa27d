import CPostgres

/// A thin owner of one libpq connection: connect, run statements with text parameters, read text results.
/// Not thread-safe: the replicator's thread (or a reader command) uses it alone.
final class PostgresConnection {
    private var handle: OpaquePointer?

    /// Connects to `url` (`postgres://user[:password]@host:port/db`); throws with libpq's message.
    init(url: String, connectTimeoutSeconds: Int = 5) throws(AccountingError) {
        // connect_timeout bounds a dead host; keywords override nothing the URL sets otherwise.
        let separator = url.contains("?") ? "&" : "?"
        let target = url.contains("connect_timeout=") ? url : url + "\(separator)connect_timeout=\(connectTimeoutSeconds)"
        handle = PQconnectdb(target)
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { Self.message(PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(handle)
            self.handle = nil
            throw .postgres(operation: "connect", message: message)
        }
    }

    deinit { PQfinish(handle) }

    /// False once the server is gone (the replicator then reconnects).
    var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Runs `sql` with text parameters (`nil` = NULL); returns the rows as text (`nil` = NULL).
    @discardableResult
    func query(_ sql: String, _ parameters: [String?] = []) throws(AccountingError) -> [[String?]] {
        // All parameters in one NUL-separated buffer, kept alive for the call.
        var storage: [CChar] = []
        var offsets: [Int?] = []
        offsets.reserveCapacity(parameters.count)
        for parameter in parameters {
            guard let parameter else { offsets.append(nil); continue }
            offsets.append(storage.count)
            storage.append(contentsOf: parameter.utf8CString)
        }
        let result: OpaquePointer? = storage.withUnsafeBufferPointer { raw in
            let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { raw.baseAddress! + $0 } }
            return PQexecParams(handle, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = result.map { Self.message(PQresultErrorMessage($0)) } ?? Self.message(PQerrorMessage(handle))
            throw .postgres(operation: String(sql.prefix(60)), message: message)
        }
        var rows: [[String?]] = []
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            for column in 0..<columnCount {
                values.append(PQgetisnull(result, row, column) == 1
                    ? nil : String(cString: PQgetvalue(result, row, column)))
            }
            rows.append(values)
        }
        return rows
    }

    private static func message(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown error" }
        return String(cString: text).trimmingCharacters(in: " \n")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
