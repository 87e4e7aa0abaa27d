/// Send times of one miner's unacknowledged shares, indexed by sequence number.
///
/// Sequence numbers are consecutive, so the outstanding ones are the window `oldest..<next`, kept in a
/// power-of-two ring that only grows (allocating) while the window widens: no allocation per share in steady
/// state. A time of 0 marks a share already acknowledged out of order (a rejection inside the window).
struct ShareClock {
    private var times: [UInt64]
    private var oldest: UInt32 = 0
    /// The sequence number of the next share.
    private(set) var next: UInt32 = 0
    /// Shares sent and not yet acknowledged.
    private(set) var outstanding = 0

    init(capacity: Int = 4) {
        var size = 1
        while size < Swift.max(capacity, 1) { size <<= 1 }
        times = [UInt64](repeating: 0, count: size)
    }

    private var mask: Int { times.count - 1 }

    /// Records that share `next` was sent at `now` (nanoseconds, non-zero) and returns its sequence number.
    mutating func send(at now: UInt64) -> UInt32 {
        if Int(next &- oldest) == times.count { grow() }
        let sequence = next
        times[Int(sequence) & mask] = Swift.max(now, 1)
        next &+= 1
        outstanding += 1
        return sequence
    }

    /// Whether `sequence` lies in the outstanding window.
    private func isInWindow(_ sequence: UInt32) -> Bool {
        sequence &- oldest < next &- oldest
    }

    /// Acknowledges every outstanding share up to and including `last`, calling `record` with each one's latency.
    /// Returns how many were acknowledged, or nil when `last` is not outstanding.
    mutating func acknowledge(through last: UInt32, at now: UInt64, _ record: (UInt64) -> Void) -> Int? {
        guard isInWindow(last) else { return nil }
        var count = 0
        var sequence = oldest
        while true {
            let slot = Int(sequence) & mask
            if times[slot] != 0 {
                record(now &- times[slot])
                times[slot] = 0
                count += 1
            }
            if sequence == last { break }
            sequence &+= 1
        }
        oldest = last &+ 1
        outstanding -= count
        return count
    }

    /// Acknowledges the single share `sequence` (a rejection). Returns false when it is not outstanding.
    mutating func acknowledge(_ sequence: UInt32, at now: UInt64, _ record: (UInt64) -> Void) -> Bool {
        guard isInWindow(sequence), times[Int(sequence) & mask] != 0 else { return false }
        record(now &- times[Int(sequence) & mask])
        times[Int(sequence) & mask] = 0
        outstanding -= 1
        while oldest != next && times[Int(oldest) & mask] == 0 { oldest &+= 1 }
        return true
    }

    /// Sets the send time of the outstanding shares from `first` to the newest to `now`.
    mutating func restamp(from first: UInt32, at now: UInt64) {
        guard first != next, isInWindow(first) else { return }
        var sequence = first
        while sequence != next {
            let slot = Int(sequence) & mask
            if times[slot] != 0 { times[slot] = Swift.max(now, 1) }
            sequence &+= 1
        }
    }

    private mutating func grow() {
        var wider = [UInt64](repeating: 0, count: times.count * 2)
        let newMask = wider.count - 1
        var sequence = oldest
        while sequence != next {
            wider[Int(sequence) & newMask] = times[Int(sequence) & mask]
            sequence &+= 1
        }
        times = wider
    }
}
