/// Reads the shared PostgreSQL ledger (rows of every node replicated there): per-user totals, like
/// ``LedgerReader/summary(sinceMilliseconds:)`` on a node's SQLite file, optionally for one node only.
public final class PostgresLedgerReader {
    private let connection: PostgresConnection

    /// Connects to `url`; throws when the server is unreachable.
    public init(url: String) throws(AccountingError) {
        connection = try PostgresConnection(url: url)
    }

    /// Per-user totals of windows closed at or after `sinceMilliseconds`, over every node or only `node`.
    public func summary(sinceMilliseconds: UInt64? = nil, node: String? = nil) throws(AccountingError)
        -> [LedgerReader.UserTotals]
    {
        let since = String(LedgerSchema.column(sinceMilliseconds ?? 0))
        let shares = try connection.query("""
            SELECT user_identity, sum(accepted)::bigint, sum(difficulty), sum(credit)::numeric, sum(rejected)::bigint
            FROM share_windows WHERE window_end_ms >= $1::bigint AND ($2::text IS NULL OR node = $2::text)
            GROUP BY user_identity
            """, [since, node])
        var totals: [String: LedgerReader.UserTotals] = [:]
        for row in shares {
            let user = row[0] ?? ""
            totals[user] = LedgerReader.UserTotals(
                user: user, accepted: UInt64(row[1] ?? "0") ?? 0, difficulty: Double(row[2] ?? "0") ?? 0,
                credit: UInt64(row[3] ?? "0") ?? .max, rejected: UInt64(row[4] ?? "0") ?? 0, blocks: 0, reward: 0)
        }
        let blocks = try connection.query("""
            SELECT user_identity, count(*), coalesce(sum(reward), 0)::bigint FROM blocks
            WHERE found_at * 1000 >= $1::bigint AND ($2::text IS NULL OR node = $2::text) GROUP BY user_identity
            """, [since, node])
        for row in blocks {
            let user = row[0] ?? ""
            var entry = totals[user] ?? LedgerReader.UserTotals(
                user: user, accepted: 0, difficulty: 0, credit: 0, rejected: 0, blocks: 0, reward: 0)
            entry.blocks = UInt64(row[1] ?? "0") ?? 0
            entry.reward = UInt64(row[2] ?? "0") ?? 0
            totals[user] = entry
        }
        return totals.values.sorted { $0.user < $1.user }
    }

    /// The nodes present, with the close time (Unix ms) of the newest window replicated from each.
    public func nodes() throws(AccountingError) -> [String: UInt64] {
        let rows = try connection.query("SELECT node, window_end_ms FROM sv2_replication")
        var result: [String: UInt64] = [:]
        for row in rows { result[row[0] ?? ""] = UInt64(row[1] ?? "0") ?? 0 }
        return result
    }
}
