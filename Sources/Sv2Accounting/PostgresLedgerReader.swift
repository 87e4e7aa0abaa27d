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

    /// The PPLNS split of the newest `window` difficulty over every node or only `node`
    /// (``LedgerReader/pplns(window:)``). Windows of different nodes closing in the same millisecond count as one.
    public func pplns(window: Double, node: String? = nil) throws(AccountingError) -> LedgerReader.PayoutSplit {
        // Fetched in pages, newest first, until the window is covered.
        var rows: [[String?]] = []
        var index = 0
        var before = Int64.max
        return try LedgerReader.split(window: window) { () throws(AccountingError) in
            if index == rows.count {
                rows = try connection.query("""
                    SELECT window_end_ms, user_identity, sum(difficulty) FROM share_windows
                    WHERE accepted > 0 AND window_end_ms < $1::bigint AND ($2::text IS NULL OR node = $2::text)
                    GROUP BY window_end_ms, user_identity ORDER BY window_end_ms DESC, user_identity LIMIT 5000
                    """, [String(before), node])
                index = 0
                guard let last = rows.last?[0].flatMap({ Int64($0) }) else { return nil }
                if rows.count == 5000 {
                    // The page may end inside window `last`: keep it for the next page, which then starts with it —
                    // or, when the page is that one window alone, fetch the window whole.
                    let trimmed = rows.filter { Int64($0[0] ?? "0") != last }
                    if trimmed.isEmpty {
                        rows = try connection.query("""
                            SELECT window_end_ms, user_identity, sum(difficulty) FROM share_windows
                            WHERE accepted > 0 AND window_end_ms = $1::bigint AND ($2::text IS NULL OR node = $2::text)
                            GROUP BY window_end_ms, user_identity ORDER BY user_identity
                            """, [String(last), node])
                        before = last
                    } else {
                        rows = trimmed
                        before = last + 1
                    }
                } else {
                    before = last
                }
                guard !rows.isEmpty else { return nil }
            }
            let row = rows[index]
            index += 1
            return (Int64(row[0] ?? "0") ?? 0, row[1] ?? "", Double(row[2] ?? "0") ?? 0)
        }
    }

    /// The nodes present, with the close time (Unix ms) of the newest window replicated from each.
    public func nodes() throws(AccountingError) -> [String: UInt64] {
        let rows = try connection.query("SELECT node, window_end_ms FROM sv2_replication")
        var result: [String: UInt64] = [:]
        for row in rows { result[row[0] ?? ""] = UInt64(row[1] ?? "0") ?? 0 }
        return result
    }
}
