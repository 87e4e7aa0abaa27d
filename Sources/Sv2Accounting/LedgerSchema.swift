/// The accounting tables, the same in SQLite and PostgreSQL (types chosen to mean the same in both).
///
/// - `share_windows`: one row per (node, window, user, channel): accepted shares, their difficulty sum (each share
///   at the difficulty it was validated at), the wire credit sum and the rejected total.
/// - `share_rejections`: rejected shares of that row by reason (`invalid-share`, `stale-share`, …,
///   `accounting-backlog`).
/// - `blocks`: one row per found block, its state updated in place (`found` → `submitted` → `acknowledged` /
///   `superseded` / `failed`).
///
/// `node` names the pool instance (`--node-id`), so several pools can share one PostgreSQL database, and rows
/// replayed from a node's SQLite file are idempotent upserts on (node, window_end_ms, user_identity, channel).
enum LedgerSchema {
    static let statements = [
        """
        CREATE TABLE IF NOT EXISTS share_windows (
            node TEXT NOT NULL,
            window_end_ms BIGINT NOT NULL,
            user_identity TEXT NOT NULL,
            channel BIGINT NOT NULL,
            accepted BIGINT NOT NULL,
            difficulty DOUBLE PRECISION NOT NULL,
            credit BIGINT NOT NULL,
            rejected BIGINT NOT NULL,
            PRIMARY KEY (node, window_end_ms, user_identity, channel))
        """,
        "CREATE INDEX IF NOT EXISTS share_windows_by_time ON share_windows (window_end_ms)",
        """
        CREATE TABLE IF NOT EXISTS share_rejections (
            node TEXT NOT NULL,
            window_end_ms BIGINT NOT NULL,
            user_identity TEXT NOT NULL,
            channel BIGINT NOT NULL,
            reason TEXT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (node, window_end_ms, user_identity, channel, reason))
        """,
        """
        CREATE TABLE IF NOT EXISTS blocks (
            hash TEXT PRIMARY KEY,
            node TEXT NOT NULL,
            height BIGINT,
            user_identity TEXT NOT NULL,
            channel BIGINT NOT NULL,
            reward BIGINT,
            state TEXT NOT NULL,
            found_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL)
        """,
    ]

    /// PostgreSQL only: each node's high-water mark, written in the same transaction as the rows it covers.
    static let postgresStatements = [
        """
        CREATE TABLE IF NOT EXISTS sv2_replication (
            node TEXT PRIMARY KEY,
            window_end_ms BIGINT NOT NULL,
            blocks_updated_at BIGINT NOT NULL)
        """,
    ]

    /// A `UInt64` counter as a signed 64-bit column value (saturating: sums are never wrapped).
    static func column(_ value: UInt64) -> Int64 { Int64(clamping: value) }
}
