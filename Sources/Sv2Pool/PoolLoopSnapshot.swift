/// The counters of one loop's pool at one moment (see ``PoolCluster``), or the sum over loops: plain values, so they
/// can be read on any thread.
public struct PoolLoopSnapshot: Sendable, Hashable {
    /// The pool's counters.
    public var statistics = PoolStatistics()
    /// Mining connections open.
    public var connections = 0
    /// Channels open.
    public var channels = 0
    /// Found blocks not yet settled by the chain tip.
    public var unsettledBlocks = 0
    /// Accounting windows handed to the ledger and not yet committed.
    public var uncommittedWindows = 0
    /// Per-user lifetime totals (only when the cluster publishes them).
    public var users: [String: UserShareTotals] = [:]
    /// Lifetime totals of the users not tracked one by one.
    public var untrackedUsers = UserShareTotals()

    /// Zero counters.
    public init() {}

    /// Reads `service`'s pool. Its loop thread only.
    init(_ service: PoolService, userTotals: Bool) {
        statistics = service.pool.statistics
        connections = service.server.statistics.connectionsActive
        channels = service.pool.openChannelCount
        unsettledBlocks = service.pool.unsettledBlockCount
        uncommittedWindows = service.pool.uncommittedWindowCount
        if userTotals { (users, untrackedUsers) = service.pool.userTotals() }
    }

    /// Adds another loop's figures. A user tracked one by one on any loop keeps its own entry (each loop tracks the
    /// first `maximumTrackedUsers` it sees; its shares on a loop where it was not tracked stay in the untracked sum).
    public mutating func add(_ other: PoolLoopSnapshot) {
        statistics.add(other.statistics)
        connections += other.connections
        channels += other.channels
        unsettledBlocks += other.unsettledBlocks
        uncommittedWindows += other.uncommittedWindows
        for (user, totals) in other.users { users[user, default: UserShareTotals()].add(totals) }
        untrackedUsers.add(other.untrackedUsers)
    }
}
