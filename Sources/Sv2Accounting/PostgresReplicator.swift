import Foundation
import Reactor
public import Logging

/// Copies a node's SQLite ledger into a shared PostgreSQL database (same schema), so that many pool nodes can be
/// accounted in one place while each keeps acknowledging against its own local, durable SQLite file.
///
/// The local file stays the source of truth: the pool never waits for PostgreSQL. A thread of its own copies every
/// window row, rejection row and block row that PostgreSQL has not got yet, in one PostgreSQL transaction per pass
/// together with the node's high-water mark (`sv2_replication`), using idempotent upserts keyed by (node,
/// window_end_ms, user_identity, channel) that replace with the local totals. An outage therefore loses nothing:
/// passes fail (logged, counted, retried with backoff up to 5 s) and the next pass after PostgreSQL is back copies
/// everything since the mark; a pass interrupted half-way commits nothing and is simply repeated.
public final class PostgresReplicator: @unchecked Sendable {
    /// The local ledger file.
    public let sqlitePath: String
    /// The node whose rows are copied.
    public let node: String
    /// Time between passes while caught up.
    public let interval: Duration
    private let url: String
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var running = false
    private var stopping = false
    private var finished = true
    private var counters = PostgresReplicatorStatistics()

    /// Windows (distinct close times) copied per pass at most.
    static let windowsPerPass = 2000
    /// Rows per multi-row INSERT statement.
    static let rowsPerStatement = 400

    /// Creates a replicator of `node`'s rows in `sqlitePath` to the PostgreSQL database at `url` (never logged: it
    /// may hold a password).
    public init(
        sqlitePath: String, node: String, url: String, interval: Duration = .milliseconds(500),
        logger: Logger = Logger(label: "stratum.accounting.postgres")
    ) {
        self.sqlitePath = sqlitePath
        self.node = node
        self.url = url
        self.interval = interval
        self.logger = logger
    }

    /// Starts the replication thread (idempotent).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !running else { return }
        running = true
        stopping = false
        finished = false
        let thread = Thread { [self] in
            // Named from inside: Foundation on Linux does not apply `Thread.name` set before `start()`.
            nameCurrentThread("sv2-postgres")
            loop()
        }
        thread.start()
    }

    /// Stops the thread after its current pass (waits at most `timeout`).
    public func stop(timeout: Duration = .seconds(10)) {
        let deadline = Date().addingTimeInterval(ShareLedger.seconds(timeout))
        condition.lock()
        defer { condition.unlock() }
        guard running else { return }
        stopping = true
        condition.broadcast()
        while !finished, condition.wait(until: deadline) {}
        if finished { running = false }
    }

    /// A snapshot of the counters (any thread).
    public var statistics: PostgresReplicatorStatistics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    private func loop() {
        var postgres: PostgresConnection?
        var failures = 0
        while true {
            condition.lock()
            let stop = stopping
            condition.unlock()
            var delay = ShareLedger.seconds(interval)
            do throws(AccountingError) {
                if postgres == nil || postgres?.isHealthy == false {
                    postgres = nil
                    let connection = try PostgresConnection(url: url)
                    for statement in LedgerSchema.statements + LedgerSchema.postgresStatements {
                        try connection.query(statement)
                    }
                    postgres = connection
                    if failures > 0 { logger.notice("accounting: PostgreSQL is back; catching up") }
                }
                let copied = try pass(postgres!)
                failures = 0
                // A full pass means more is waiting: go on at once.
                if copied.windows >= Self.windowsPerPass { delay = 0 }
            } catch {
                postgres = nil
                failures += 1
                condition.lock()
                counters.failedPasses &+= 1
                counters.lastError = "\(error)"
                condition.unlock()
                if failures == 1 || failures % 30 == 0 {
                    logger.error("accounting: PostgreSQL replication failed (\(failures)×, retrying; nothing is lost): \(error)")
                }
                delay = Swift.min(5, ShareLedger.seconds(interval) * Double(1 << Swift.min(failures, 4)))
            }
            if stop {
                condition.lock()
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.lock()
            if !stopping, delay > 0 { _ = condition.wait(until: Date().addingTimeInterval(delay)) }
            condition.unlock()
        }
    }

    /// Copies what PostgreSQL lacks, at most ``windowsPerPass`` windows; one PostgreSQL transaction.
    func pass(_ postgres: PostgresConnection) throws(AccountingError) -> (windows: Int, rows: Int) {
        let marks = try postgres.query(
            "SELECT window_end_ms, blocks_updated_at FROM sv2_replication WHERE node = $1", [node])
        let windowMark = Int64(marks.first?[0] ?? "0") ?? 0
        let blockMark = Int64(marks.first?[1] ?? "0") ?? 0

        let sqlite = try SQLiteConnection(path: sqlitePath, readOnly: true)
        let ends = try sqlite.prepare("""
            SELECT DISTINCT window_end_ms FROM share_windows WHERE node = ?1 AND window_end_ms > ?2
            ORDER BY window_end_ms LIMIT ?3
            """)
        ends.bind(1, node)
        ends.bind(2, windowMark)
        ends.bind(3, Int64(Self.windowsPerPass))
        var windows = 0
        var upper = windowMark
        while try ends.step() {
            windows += 1
            upper = ends.int64(0)
        }
        var windowRows: [[String?]] = []
        let rows = try sqlite.prepare("""
            SELECT window_end_ms, user_identity, channel, accepted, difficulty, credit, rejected FROM share_windows
            WHERE node = ?1 AND window_end_ms > ?2 AND window_end_ms <= ?3
            """)
        rows.bind(1, node)
        rows.bind(2, windowMark)
        rows.bind(3, upper)
        while try rows.step() {
            windowRows.append([
                node, String(rows.int64(0)), rows.string(1), String(rows.int64(2)), String(rows.int64(3)),
                "\(rows.double(4))", String(rows.int64(5)), String(rows.int64(6)),
            ])
        }
        var rejectionRows: [[String?]] = []
        let rejections = try sqlite.prepare("""
            SELECT window_end_ms, user_identity, channel, reason, count FROM share_rejections
            WHERE node = ?1 AND window_end_ms > ?2 AND window_end_ms <= ?3
            """)
        rejections.bind(1, node)
        rejections.bind(2, windowMark)
        rejections.bind(3, upper)
        while try rejections.step() {
            rejectionRows.append([
                node, String(rejections.int64(0)), rejections.string(1), String(rejections.int64(2)),
                rejections.string(3), String(rejections.int64(4)),
            ])
        }
        var blockRows: [[String?]] = []
        var newBlockMark = blockMark
        let blocks = try sqlite.prepare("""
            SELECT hash, height, user_identity, channel, reward, state, found_at, updated_at FROM blocks
            WHERE node = ?1 AND updated_at >= ?2
            """)
        blocks.bind(1, node)
        blocks.bind(2, blockMark)
        while try blocks.step() {
            blockRows.append([
                blocks.string(0), node, blocks.isNull(1) ? nil : String(blocks.int64(1)), blocks.string(2),
                String(blocks.int64(3)), blocks.isNull(4) ? nil : String(blocks.int64(4)), blocks.string(5),
                String(blocks.int64(6)), String(blocks.int64(7)),
            ])
            newBlockMark = Swift.max(newBlockMark, blocks.int64(7))
        }
        // Block rows at the mark's second are sent again next time (a later update in the same second): cheap,
        // idempotent. Only bother PostgreSQL when something is new.
        let blocksNew = blockRows.contains { Int64($0[8] ?? "0") ?? 0 > blockMark } || (blockMark == 0 && !blockRows.isEmpty)
        guard windows > 0 || blocksNew else { return (0, 0) }

        try postgres.query("BEGIN")
        do throws(AccountingError) {
            try upsert(postgres, into: "share_windows",
                columns: ["node", "window_end_ms", "user_identity", "channel", "accepted", "difficulty", "credit", "rejected"],
                types: ["text", "bigint", "text", "bigint", "bigint", "double precision", "bigint", "bigint"],
                key: ["node", "window_end_ms", "user_identity", "channel"], rows: windowRows)
            try upsert(postgres, into: "share_rejections",
                columns: ["node", "window_end_ms", "user_identity", "channel", "reason", "count"],
                types: ["text", "bigint", "text", "bigint", "text", "bigint"],
                key: ["node", "window_end_ms", "user_identity", "channel", "reason"], rows: rejectionRows)
            try upsert(postgres, into: "blocks",
                columns: ["hash", "node", "height", "user_identity", "channel", "reward", "state", "found_at", "updated_at"],
                types: ["text", "text", "bigint", "text", "bigint", "bigint", "text", "bigint", "bigint"],
                key: ["hash"], rows: blockRows)
            try postgres.query("""
                INSERT INTO sv2_replication (node, window_end_ms, blocks_updated_at) VALUES ($1, $2::bigint, $3::bigint)
                ON CONFLICT (node) DO UPDATE SET window_end_ms = EXCLUDED.window_end_ms,
                    blocks_updated_at = EXCLUDED.blocks_updated_at
                """, [node, String(upper), String(newBlockMark)])
            try postgres.query("COMMIT")
        } catch {
            _ = try? postgres.query("ROLLBACK")
            throw error
        }
        let copied = windowRows.count + rejectionRows.count + blockRows.count
        condition.lock()
        counters.passes &+= 1
        counters.copiedWindows &+= UInt64(windows)
        counters.copiedRows &+= UInt64(copied)
        counters.replicatedThroughMilliseconds = UInt64(clamping: upper)
        condition.unlock()
        return (windows, copied)
    }

    /// Multi-row `INSERT … ON CONFLICT (key) DO UPDATE SET column = EXCLUDED.column` (replace: idempotent).
    private func upsert(
        _ postgres: PostgresConnection, into table: String, columns: [String], types: [String], key: [String],
        rows: [[String?]]
    ) throws(AccountingError) {
        let updates = columns.filter { !key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<Swift.min(rows.count, start + Self.rowsPerStatement)]
            var values: [String] = []
            var parameters: [String?] = []
            for row in chunk {
                let placeholders = row.indices.map { "$\(parameters.count + $0 + 1)::\(types[$0])" }
                values.append("(" + placeholders.joined(separator: ", ") + ")")
                parameters.append(contentsOf: row)
            }
            try postgres.query(
                "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(values.joined(separator: ", ")) "
                    + "ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(updates)",
                parameters)
            start += chunk.count
        }
    }
}

/// Counters of a ``PostgresReplicator``.
public struct PostgresReplicatorStatistics: Sendable, Hashable {
    /// Passes that copied something.
    public var passes: UInt64 = 0
    /// Passes that failed (PostgreSQL unreachable, statement failed); retried.
    public var failedPasses: UInt64 = 0
    /// Windows copied.
    public var copiedWindows: UInt64 = 0
    /// Rows copied (windows, rejections, blocks).
    public var copiedRows: UInt64 = 0
    /// Close time (Unix ms) of the newest window known to be in PostgreSQL.
    public var replicatedThroughMilliseconds: UInt64 = 0
    /// The latest failure.
    public var lastError: String?

    /// Creates zeroed counters.
    public init() {}
}
