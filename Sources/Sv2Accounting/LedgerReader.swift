/// Reads a SQLite ledger for reports: per-user totals (`sv2 accounting summary`) and the PPLNS split over the
/// last N difficulty (`sv2 accounting pplns`). Opens the file read-only; safe while the pool writes (WAL).
public final class LedgerReader {
    /// One user's totals.
    public struct UserTotals: Sendable, Hashable, Codable {
        /// The user identity.
        public var user: String
        /// Accepted shares.
        public var accepted: UInt64
        /// Sum of accepted shares' difficulty (each at the difficulty it was validated at).
        public var difficulty: Double
        /// Sum of the wire credit (`new_shares_sum` units).
        public var credit: UInt64
        /// Rejected shares.
        public var rejected: UInt64
        /// Blocks found.
        public var blocks: UInt64
        /// Sum of the found blocks' coinbase value (satoshis; blocks later superseded included, see their state).
        public var reward: UInt64
    }

    /// One user's part of a PPLNS window.
    public struct PayoutShare: Sendable, Hashable, Codable {
        /// The user identity.
        public var user: String
        /// Difficulty of the user's shares inside the window.
        public var difficulty: Double
        /// `difficulty / total`.
        public var fraction: Double
    }

    /// A PPLNS split.
    public struct PayoutSplit: Sendable, Hashable, Codable {
        /// The difficulty asked for (N).
        public var window: Double
        /// The difficulty found (less than N when the ledger holds less).
        public var covered: Double
        /// Per user, largest first.
        public var shares: [PayoutShare]
    }

    /// One found block.
    public struct BlockRow: Sendable, Hashable, Codable {
        /// Block hash (explorer order, hex).
        public var hash: String
        /// Height (BIP34), when known.
        public var height: UInt32?
        /// The user whose share it was.
        public var user: String
        /// Coinbase value in satoshis, when known.
        public var reward: UInt64?
        /// `found`, `submitted`, `acknowledged`, `superseded` or `failed`.
        public var state: String
        /// Unix seconds it was found.
        public var foundAt: UInt64
    }

    private let connection: SQLiteConnection

    /// Opens the ledger at `path` read-only.
    public init(path: String) throws(AccountingError) {
        connection = try SQLiteConnection(path: path, readOnly: true)
    }

    /// Per-user totals of windows closed at or after `sinceMilliseconds` (Unix ms; `nil`: everything), and of
    /// blocks found since then; sorted by user.
    public func summary(sinceMilliseconds: UInt64? = nil) throws(AccountingError) -> [UserTotals] {
        let since = LedgerSchema.column(sinceMilliseconds ?? 0)
        var totals: [String: UserTotals] = [:]
        let shares = try connection.prepare("""
            SELECT user_identity, sum(accepted), sum(difficulty), sum(credit), sum(rejected) FROM share_windows
            WHERE window_end_ms >= ?1 GROUP BY user_identity
            """)
        shares.bind(1, since)
        while try shares.step() {
            let user = shares.string(0)
            totals[user] = UserTotals(
                user: user, accepted: UInt64(clamping: shares.int64(1)), difficulty: shares.double(2),
                credit: UInt64(clamping: shares.int64(3)), rejected: UInt64(clamping: shares.int64(4)), blocks: 0,
                reward: 0)
        }
        let blocks = try connection.prepare("""
            SELECT user_identity, count(*), coalesce(sum(reward), 0) FROM blocks WHERE found_at * 1000 >= ?1
            GROUP BY user_identity
            """)
        blocks.bind(1, since)
        while try blocks.step() {
            let user = blocks.string(0)
            var entry = totals[user] ?? UserTotals(
                user: user, accepted: 0, difficulty: 0, credit: 0, rejected: 0, blocks: 0, reward: 0)
            entry.blocks = UInt64(clamping: blocks.int64(1))
            entry.reward = UInt64(clamping: blocks.int64(2))
            totals[user] = entry
        }
        return totals.values.sorted { $0.user < $1.user }
    }

    /// Found blocks since `sinceMilliseconds`, oldest first.
    public func blocks(sinceMilliseconds: UInt64? = nil) throws(AccountingError) -> [BlockRow] {
        let statement = try connection.prepare("""
            SELECT hash, height, user_identity, reward, state, found_at FROM blocks WHERE found_at * 1000 >= ?1
            ORDER BY found_at, hash
            """)
        statement.bind(1, LedgerSchema.column(sinceMilliseconds ?? 0))
        var rows: [BlockRow] = []
        while try statement.step() {
            rows.append(BlockRow(
                hash: statement.string(0), height: statement.isNull(1) ? nil : UInt32(clamping: statement.int64(1)),
                user: statement.string(2), reward: statement.isNull(3) ? nil : UInt64(clamping: statement.int64(3)),
                state: statement.string(4), foundAt: UInt64(clamping: statement.int64(5))))
        }
        return rows
    }

    /// Rejected shares by reason since `sinceMilliseconds`.
    public func rejections(sinceMilliseconds: UInt64? = nil) throws(AccountingError) -> [String: UInt64] {
        let statement = try connection.prepare(
            "SELECT reason, sum(count) FROM share_rejections WHERE window_end_ms >= ?1 GROUP BY reason")
        statement.bind(1, LedgerSchema.column(sinceMilliseconds ?? 0))
        var result: [String: UInt64] = [:]
        while try statement.step() { result[statement.string(0)] = UInt64(clamping: statement.int64(1)) }
        return result
    }

    /// The PPLNS split of the newest `window` difficulty: windows are taken newest first until their difficulty
    /// adds up to `window`; the oldest window taken counts only in part (its rows pro rata).
    public func pplns(window: Double) throws(AccountingError) -> PayoutSplit {
        let statement = try connection.prepare("""
            SELECT window_end_ms, user_identity, sum(difficulty) FROM share_windows WHERE accepted > 0
            GROUP BY window_end_ms, user_identity ORDER BY window_end_ms DESC, user_identity
            """)
        return try Self.split(window: window) { () throws(AccountingError) in
            try statement.step() ? (statement.int64(0), statement.string(1), statement.double(2)) : nil
        }
    }

    /// The PPLNS walk over (window end, user, difficulty) rows given newest window first (SQLite or PostgreSQL).
    static func split(
        window: Double, next: () throws(AccountingError) -> (end: Int64, user: String, difficulty: Double)?
    ) throws(AccountingError) -> PayoutSplit {
        var byUser: [String: Double] = [:]
        var covered = 0.0
        var pending: [(String, Double)] = []
        var pendingEnd: Int64?
        func settle() {
            let sum = pending.reduce(0) { $0 + $1.1 }
            let scale = covered + sum <= window ? 1 : Swift.max(0, window - covered) / sum
            for (user, difficulty) in pending { byUser[user, default: 0] += difficulty * scale }
            covered += sum * scale
            pending.removeAll()
        }
        while covered < window, let row = try next() {
            if pendingEnd != row.end { settle(); pendingEnd = row.end }
            if covered >= window { break }
            pending.append((row.user, row.difficulty))
        }
        settle()
        let shares = byUser.map { PayoutShare(user: $0.key, difficulty: $0.value, fraction: covered > 0 ? $0.value / covered : 0) }
            .sorted { $0.difficulty != $1.difficulty ? $0.difficulty > $1.difficulty : $0.user < $1.user }
        return PayoutSplit(window: window, covered: covered, shares: shares)
    }
}
