/// Lifetime share totals of one user identity on a ``Pool``: every channel it opened, closed ones included, so the
/// figures only grow (they back Prometheus counters).
public struct UserShareTotals: Sendable, Hashable {
    /// Shares accepted.
    public var accepted: UInt64 = 0
    /// Shares rejected (any reason).
    public var rejected: UInt64 = 0
    /// Sum of the difficulties accepted shares were validated at.
    public var difficulty: Double = 0

    /// Zero totals.
    public init() {}

    /// Creates totals with the given values.
    public init(accepted: UInt64, rejected: UInt64, difficulty: Double) {
        self.accepted = accepted
        self.rejected = rejected
        self.difficulty = difficulty
    }

    mutating func add(_ other: UserShareTotals) {
        accepted &+= other.accepted
        rejected &+= other.rejected
        difficulty += other.difficulty
    }
}

/// Per-user lifetime totals, bounded: the first ``capacity`` user identities seen are tracked one by one, any later
/// one adds to ``untracked`` (a decision made when the user's first channel opens and never revised, so no user's
/// figures move between the two). Closed channels' counts are folded in here; open channels are added at read time.
/// Loop thread only.
struct UserShareBook {
    let capacity: Int
    private(set) var closed: [String: UserShareTotals] = [:]
    private(set) var untrackedClosed = UserShareTotals()

    init(capacity: Int) { self.capacity = capacity }

    /// Whether `user` is tracked on its own; makes it so when there is room.
    mutating func track(_ user: String) -> Bool {
        if closed[user] != nil { return true }
        guard closed.count < capacity else { return false }
        closed[user] = UserShareTotals()
        return true
    }

    /// A closed channel's counts.
    mutating func close(user: String, tracked: Bool, _ totals: UserShareTotals) {
        if tracked { closed[user, default: UserShareTotals()].add(totals) } else { untrackedClosed.add(totals) }
    }
}
