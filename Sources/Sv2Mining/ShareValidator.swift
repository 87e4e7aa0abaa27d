import Glibc

/// Validates the shares of one channel against its valid jobs, detecting duplicates.
///
/// Check order follows SRI: stale job → unknown job → extranonce size → `ntime` → version bits → hash →
/// duplicate → block / channel target. Jobs for the current chain tip stay valid together (a fee-bumped
/// template adds a job without invalidating the previous one); a new chain tip makes them all stale and clears
/// the duplicate filter. Fingerprints come from the header hash, which covers the job's merkle root, so one
/// filter serves all jobs of a tip. Validating a share does not allocate.
///
/// Duplicates are rejected for as long as the job they belong to is valid. The filter's memory is bounded by
/// ending that lifetime, never by forgetting: when the filter fills up (``DuplicateShareFilter/isFull``), every job
/// of the channel is retired, the filter is cleared, and ``ntimeFloor`` is raised above the highest `ntime` ever
/// accepted on this tip, so no header accepted before can be valid again. ``needsFreshJob`` then tells the owner
/// to send a new job whose `min_ntime` is at least ``ntimeFloor``.
///
/// Blocks are never lost to bookkeeping: a share on a job retired during the current tip is still hashed, and if
/// it meets the network target it is reported as ``ShareOutcome/blockFound(hash:header:)`` (the header is valid
/// for the network whatever the pool thinks of the job); otherwise it is `stale-share`.
public struct ShareValidator: Sendable {
    /// Jobs kept valid at once per chain tip; adding more retires the oldest as stale.
    public let maximumActiveJobs: Int
    private var jobs: [ShareJob] = []
    // Jobs retired during the current chain tip, newest last: still checked for blocks. Bounded by staleMemory.
    private var retired: [ShareJob] = []
    // Recently retired job ids, to answer `stale-share` instead of `invalid-job-id`. Fixed size ring.
    private var staleIDs: [UInt32]
    private var staleValid: [Bool]
    private var staleNext = 0
    private var seen: DuplicateShareFilter
    private var highestAcceptedNtime: UInt32 = 0

    /// Shares must have `ntime` at least this (0 until the duplicate filter first filled on this chain tip).
    public private(set) var ntimeFloor: UInt32 = 0
    /// True after the duplicate filter filled and every job was retired, until the next ``activate(_:newChainTip:)``:
    /// the channel has no valid job and needs a fresh one (with `min_ntime` ≥ ``ntimeFloor``).
    public private(set) var needsFreshJob = false
    /// The credit of the last share reported accepted (or a block): the difficulty of the job target it was
    /// validated against. Read it right after ``validate(_:)``.
    public private(set) var lastCredit = ShareCredit(target: .max)
    /// How many times the duplicate filter filled and the channel's jobs were retired.
    public private(set) var rollovers: UInt64 = 0

    /// Creates a validator.
    ///
    /// - Parameters:
    ///   - maximumActiveJobs: jobs valid at once for one chain tip.
    ///   - staleMemory: how many retired job ids are remembered as stale (and how many retired jobs of the current
    ///     tip are still checked for blocks).
    ///   - duplicateFilter: the duplicate-detection table (sized for the shares expected per chain tip).
    public init(
        maximumActiveJobs: Int = 8, staleMemory: Int = 64,
        duplicateFilter: DuplicateShareFilter = DuplicateShareFilter()
    ) {
        self.maximumActiveJobs = Swift.max(1, maximumActiveJobs)
        staleIDs = [UInt32](repeating: 0, count: Swift.max(1, staleMemory))
        staleValid = [Bool](repeating: false, count: Swift.max(1, staleMemory))
        seen = duplicateFilter
        jobs.reserveCapacity(self.maximumActiveJobs)
    }

    /// Ids of the jobs currently accepting shares, oldest first.
    public var activeJobIDs: [UInt32] { jobs.map(\.jobID) }

    /// Makes `job` valid. With `newChainTip` every earlier job becomes stale and duplicates are forgotten.
    public mutating func activate(_ job: ShareJob, newChainTip: Bool) {
        if newChainTip {
            for old in jobs { retireID(old.jobID) }
            jobs.removeAll(keepingCapacity: true)
            retired.removeAll(keepingCapacity: true)
            seen.removeAll()
            highestAcceptedNtime = 0
            ntimeFloor = 0
        } else if jobs.count >= maximumActiveJobs {
            retire(jobs.removeFirst())
        }
        jobs.removeAll { $0.jobID == job.jobID }
        jobs.append(job)
        needsFreshJob = false
    }

    /// Validates `share` against the system clock (`time(nil)`: a vDSO read, no allocation).
    public mutating func validate(_ share: Share) -> ShareOutcome {
        validate(share, now: UInt32(truncatingIfNeeded: time(nil)))
    }

    /// Validates `share` and records it for duplicate detection when accepted; `now` (unix seconds, coarse is
    /// fine) bounds `ntime` at the consensus limit, now + 2 hours.
    public mutating func validate(_ share: Share, now: UInt32) -> ShareOutcome {
        guard let index = jobs.firstIndex(where: { $0.jobID == share.jobID }) else {
            return validateOnRetiredJob(share, now: now)
        }
        // Below the floor is work from before the filter's last rollover (in flight then, or replayed): stale.
        guard share.ntime >= ntimeFloor else { return .rejected(.staleShare) }
        // The duplicate filter's slot for this share is known before the header is hashed: start loading it now,
        // so the (usually cold) cache line arrives while SHA-256d runs.
        let key = seen.key(for: share)
        seen.prefetch(key)
        switch jobs[index].check(share, now: now) {
        case .failure(let rejection):
            return .rejected(rejection)
        case .success(let (header, hash)):
            // Fields read in place rather than through a local copy of the job. (The optimiser still copies the job
            // once per share around `check`, ~1 % of the pool's CPU in profiles — a method called on an element of
            // `jobs` inside a mutating method; neither an unsafe buffer nor inlining `check` avoided it.)
            if jobs[index].blockTarget.isMet(by: hash) {
                guard seen.insert(hash, key: key) else { return .rejected(.duplicateShare) }
                recordAccepted(share, credit: jobs[index].credit)
                return .blockFound(hash: hash, header: header)
            }
            guard jobs[index].target.isMet(by: hash) else { return .rejected(.difficultyTooLow) }
            guard seen.insert(hash, key: key) else { return .rejected(.duplicateShare) }
            recordAccepted(share, credit: jobs[index].credit)
            return .accepted(hash: hash)
        }
    }

    /// A share whose job is not active: a block if it is one on a job retired during this tip, else stale/unknown.
    private mutating func validateOnRetiredJob(_ share: Share, now: UInt32) -> ShareOutcome {
        guard let job = retired.last(where: { $0.jobID == share.jobID }) else {
            return .rejected(isStale(share.jobID) ? .staleShare : .invalidJobID)
        }
        guard case .success(let (header, hash)) = job.check(share, now: now), job.blockTarget.isMet(by: hash) else {
            return .rejected(.staleShare)
        }
        let key = seen.key(for: share)
        guard seen.insert(hash, key: key) else { return .rejected(.duplicateShare) }
        recordAccepted(share, credit: job.credit)
        return .blockFound(hash: hash, header: header)
    }

    private mutating func recordAccepted(_ share: Share, credit: ShareCredit) {
        lastCredit = credit
        if share.ntime > highestAcceptedNtime { highestAcceptedNtime = share.ntime }
        if seen.isFull { rollOver() }
    }

    /// Ends the lifetime of everything the full duplicate filter covers (see the type's documentation).
    private mutating func rollOver() {
        for job in jobs { retire(job) }
        jobs.removeAll(keepingCapacity: true)
        seen.removeAll()
        // Every header accepted so far has ntime ≤ highestAcceptedNtime; none can be valid again.
        ntimeFloor = highestAcceptedNtime == .max ? .max : highestAcceptedNtime + 1
        needsFreshJob = true
        rollovers &+= 1
    }

    private mutating func retire(_ job: ShareJob) {
        retireID(job.jobID)
        if retired.count >= staleIDs.count { retired.removeFirst() }
        retired.append(job)
    }

    private mutating func retireID(_ jobID: UInt32) {
        staleIDs[staleNext] = jobID
        staleValid[staleNext] = true
        staleNext = (staleNext + 1) % staleIDs.count
    }

    private func isStale(_ jobID: UInt32) -> Bool {
        for i in 0..<staleIDs.count where staleValid[i] && staleIDs[i] == jobID { return true }
        return false
    }
}
