import CSQLite
public import Sv2Pool
import Glibc

/// The default ledger store: a SQLite file (Debian's libsqlite3) in WAL mode with `synchronous=FULL`, so a
/// returned ``commit(_:)`` survives a crash of the process and of the machine.
///
/// A window's key is its close time (`window_end_ms`), kept strictly increasing per node across restarts too: a
/// window closing at or before the newest stored one (a clock stepped back, a restart within the same
/// millisecond) is stored just after it. PostgreSQL replication relies on that order. Rows of an equal key would
/// be added up (`ON CONFLICT … DO UPDATE SET accepted = accepted + excluded.accepted`), never replaced.
public final class SQLiteLedgerStore: LedgerStore {
    /// The database file.
    public let path: String
    /// The node name written into every row.
    public let node: String
    private let connection: SQLiteConnection
    private let upsertWindow: SQLiteStatement
    private let upsertRejection: SQLiteStatement
    private let insertBlock: SQLiteStatement
    private let updateBlock: SQLiteStatement
    /// The newest stored window key of this node.
    private var lastEnd: Int64

    /// Opens or creates the database at `path` (its directory is created, mode 0700) and its tables.
    public init(path: String, node: String = "local") throws(AccountingError) {
        try Self.makeParentDirectories(of: path)
        self.path = path
        self.node = node
        connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=FULL")
        for statement in LedgerSchema.statements { try connection.execute(statement) }
        upsertWindow = try connection.prepare("""
            INSERT INTO share_windows (node, window_end_ms, user_identity, channel, accepted, difficulty, credit,
                rejected) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            ON CONFLICT (node, window_end_ms, user_identity, channel) DO UPDATE SET
                accepted = accepted + excluded.accepted, difficulty = difficulty + excluded.difficulty,
                credit = min(credit + excluded.credit, 9223372036854775807), rejected = rejected + excluded.rejected
            """)
        upsertRejection = try connection.prepare("""
            INSERT INTO share_rejections (node, window_end_ms, user_identity, channel, reason, count)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT (node, window_end_ms, user_identity, channel, reason) DO UPDATE SET
                count = count + excluded.count
            """)
        insertBlock = try connection.prepare("""
            INSERT INTO blocks (hash, node, height, user_identity, channel, reward, state, found_at, updated_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
            ON CONFLICT (hash) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
            """)
        updateBlock = try connection.prepare("UPDATE blocks SET state = ?2, updated_at = ?3 WHERE hash = ?1")
        let newest = try connection.prepare("SELECT coalesce(max(window_end_ms), 0) FROM share_windows WHERE node = ?1")
        newest.bind(1, node)
        lastEnd = try newest.step() ? newest.int64(0) : 0
    }

    /// Writes the windows in one transaction (`BEGIN IMMEDIATE` … `COMMIT`, durable on return).
    public func commit(_ windows: ArraySlice<ShareWindow>) throws(AccountingError) {
        try connection.execute("BEGIN IMMEDIATE")
        do throws(AccountingError) {
            var end = lastEnd
            for window in windows {
                end = Swift.max(LedgerSchema.column(window.endMilliseconds), end &+ 1)
                try write(window, end: end)
            }
            try connection.execute("COMMIT")
            lastEnd = end
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private func write(_ window: ShareWindow, end: Int64) throws(AccountingError) {
        for row in window.rows {
            upsertWindow.bind(1, node)
            upsertWindow.bind(2, end)
            upsertWindow.bind(3, row.userIdentity)
            upsertWindow.bind(4, Int64(row.channelID))
            upsertWindow.bind(5, LedgerSchema.column(row.accepted))
            upsertWindow.bind(6, row.difficulty)
            upsertWindow.bind(7, LedgerSchema.column(row.credit))
            upsertWindow.bind(8, LedgerSchema.column(row.rejectedTotal))
            try upsertWindow.run()
            for (reason, count) in zip(ShareWindowRow.reasons, row.rejected) where count > 0 {
                upsertRejection.bind(1, node)
                upsertRejection.bind(2, end)
                upsertRejection.bind(3, row.userIdentity)
                upsertRejection.bind(4, Int64(row.channelID))
                upsertRejection.bind(5, reason)
                upsertRejection.bind(6, LedgerSchema.column(count))
                try upsertRejection.run()
            }
        }
        for block in window.blocks {
            if block.state == "found" {
                insertBlock.bind(1, block.hash)
                insertBlock.bind(2, node)
                insertBlock.bind(3, block.height.map { Int64($0) })
                insertBlock.bind(4, block.userIdentity ?? "")
                insertBlock.bind(5, Int64(block.channelID ?? 0))
                insertBlock.bind(6, block.reward.map { LedgerSchema.column($0) })
                insertBlock.bind(7, block.state)
                insertBlock.bind(8, LedgerSchema.column(block.time))
                try insertBlock.run()
            } else {
                updateBlock.bind(1, block.hash)
                updateBlock.bind(2, block.state)
                updateBlock.bind(3, LedgerSchema.column(block.time))
                try updateBlock.run()
            }
        }
    }

    static func makeParentDirectories(of path: String) throws(AccountingError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path[..<slash].split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0, errno != EEXIST { throw .system(call: "mkdir", path: prefix, errno: errno) }
            prefix += "/"
        }
    }
}
