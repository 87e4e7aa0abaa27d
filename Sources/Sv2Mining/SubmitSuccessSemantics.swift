/// Reads the count and sum of `SubmitShares.Success` the way the upstream actually meant them, per channel.
///
/// The spec says `new_submits_accepted_count` / `new_shares_sum` cover the shares accepted *since the previous
/// acknowledgement*. SRI's pool (channels-sv2 share accounting, pool_sv2 0.1.3) sends *totals since the channel
/// opened* instead (notes §8.16). A client therefore counts acknowledged shares itself, from the progress of
/// `last_sequence_number`, and gives this type that number: a count larger than the shares the message can cover
/// is impossible in the spec's reading, so the channel is switched to the cumulative reading (for good), and the
/// per-message delta is then taken from the previous totals. Until the first tell-tale message both readings agree
/// (the first acknowledgement of a channel is the same number either way). Holds no storage: no allocation.
public struct SubmitSuccessSemantics: Sendable, Hashable {
    /// Whether this channel's upstream reports totals since the channel opened (SRI) rather than deltas (spec).
    public private(set) var isCumulative = false
    /// Acknowledgements whose count matched neither reading (logged by callers; never trusted for credit).
    public private(set) var inconsistentCount = 0
    private var previousCount: UInt32 = 0
    private var previousSum: UInt64 = 0

    /// A fresh channel: spec semantics assumed until an acknowledgement proves otherwise.
    public init() {}

    /// What one acknowledgement means, as deltas.
    public struct Delta: Sendable, Hashable {
        /// Shares this message newly acknowledges as accepted (the caller's count from sequence progress).
        public let accepted: UInt32
        /// The work (sum of share difficulties) newly accepted, in the upstream's units.
        public let work: UInt64
        /// Whether the message's own count agreed with `accepted` in the channel's reading.
        public let countAgreed: Bool
    }

    /// Interprets one `SubmitShares.Success` whose `last_sequence_number` newly covers `acknowledged` accepted
    /// shares (counted by the caller, rejected ones excluded).
    public mutating func interpret(count: UInt32, sum: UInt64, acknowledged: UInt32) -> Delta {
        // A delta count can never exceed the shares the message covers; a total can, once anything was accepted.
        if !isCumulative, count > acknowledged, previousCount > 0, count >= previousCount,
           count &- previousCount <= acknowledged {
            isCumulative = true
        }
        let countDelta: UInt32
        let work: UInt64
        if isCumulative {
            countDelta = count >= previousCount ? count &- previousCount : 0
            work = sum >= previousSum ? sum &- previousSum : 0
        } else {
            countDelta = count
            work = sum
        }
        previousCount = count
        previousSum = sum
        let agreed = countDelta == acknowledged
        if !agreed { inconsistentCount &+= 1 }
        return Delta(accepted: acknowledged, work: work, countAgreed: agreed)
    }
}

/// Counts a client channel's accepted shares from `last_sequence_number` progress (see `SubmitSuccessSemantics`).
///
/// Sequence numbers are the client's own, one per share submitted on the channel, consecutive from
/// `firstSequenceNumber`. A `SubmitShares.Success` acknowledges every share up to its `last_sequence_number`; the
/// ones among them that were rejected (`SubmitShares.Error`, recorded with `rejected(sequenceNumber:)`) are not
/// accepted. Rejections not yet covered by a success wait in a bounded queue; loop thread, no allocation after
/// `init` (the queue's capacity is reserved once).
public struct ShareAcknowledgementCounter: Sendable {
    /// How the channel's upstream reports counts.
    public private(set) var semantics = SubmitSuccessSemantics()
    /// Shares accepted so far (from sequence progress).
    public private(set) var accepted: UInt64 = 0
    /// Work accepted so far, as deltas in the upstream's units.
    public private(set) var acceptedWork: UInt64 = 0
    /// Acknowledgements whose `last_sequence_number` did not move forward (ignored).
    public private(set) var staleAcknowledgements = 0
    private var lastAcknowledged: UInt32
    private var rejections: [UInt32] = []
    private var rejectionsHead = 0
    /// Unacknowledged rejections remembered at most (older ones are forgotten: the counts stay bounded by progress).
    public static let rejectionCapacity = 1024

    /// A channel whose first share carries `firstSequenceNumber`.
    public init(firstSequenceNumber: UInt32 = 0) {
        lastAcknowledged = firstSequenceNumber &- 1
        rejections.reserveCapacity(Self.rejectionCapacity)
    }

    /// Records a `SubmitShares.Error` for `sequenceNumber` (or a share whose number was taken but never sent).
    public mutating func rejected(sequenceNumber: UInt32) {
        // Only rejections of shares no success has covered yet matter; errors come in submission order.
        guard sequenceNumber &- lastAcknowledged != 0, sequenceNumber &- lastAcknowledged < 1 << 31 else { return }
        if rejections.count == Self.rejectionCapacity {
            if rejectionsHead > 0 { compact() } else { rejections.removeFirst() }
        }
        rejections.append(sequenceNumber)
    }

    /// Interprets a `SubmitShares.Success`; returns the newly accepted shares and work.
    public mutating func succeeded(
        lastSequenceNumber: UInt32, count: UInt32, sum: UInt64
    ) -> SubmitSuccessSemantics.Delta {
        let progress = lastSequenceNumber &- lastAcknowledged
        guard progress != 0, progress < 1 << 31 else {
            staleAcknowledgements += 1
            return SubmitSuccessSemantics.Delta(accepted: 0, work: 0, countAgreed: count == 0)
        }
        var rejectedInRange: UInt32 = 0
        while rejectionsHead < rejections.count {
            let offset = rejections[rejectionsHead] &- lastAcknowledged
            guard offset <= progress else { break }
            rejectedInRange &+= 1
            rejectionsHead += 1
        }
        if rejectionsHead == rejections.count {
            rejections.removeAll(keepingCapacity: true)
            rejectionsHead = 0
        }
        lastAcknowledged = lastSequenceNumber
        let acknowledged = progress - Swift.min(rejectedInRange, progress)
        let delta = semantics.interpret(count: count, sum: sum, acknowledged: acknowledged)
        accepted &+= UInt64(delta.accepted)
        acceptedWork &+= delta.work
        return delta
    }

    private mutating func compact() {
        rejections.removeFirst(rejectionsHead)
        rejectionsHead = 0
    }
}
