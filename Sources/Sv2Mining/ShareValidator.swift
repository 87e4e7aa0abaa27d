import Glibc

/// Validates the shares of one channel against its valid jobs, detecting duplicates.
///
/// Check order follows SRI: stale job → unknown job → extranonce size → `ntime` → version bits → hash →
/// duplicate → block / channel target. Jobs for the current chain tip stay valid together (a fee-bumped
/// template adds a job without invalidating the previous one); a new chain tip makes them all stale and clears
/// the duplicate filter. Fingerprints come from the header hash, which covers the job's merkle root, so one
/// filter serves all jobs of a tip. Validating a share does not allocate.
public struct ShareValidator: Sendable {
    /// Jobs kept valid at once per chain tip; adding more retires the oldest as stale.
    public let maximumActiveJobs: Int
    private var jobs: [ShareJob] = []
    // Recently retired job ids, to answer `stale-share` instead of `invalid-job-id`. Fixed size ring.
    private var staleIDs: [UInt32]
    private var staleValid: [Bool]
    private var staleNext = 0
    private var seen: DuplicateShareFilter

    /// Creates a validator.
    ///
    /// - Parameters:
    ///   - maximumActiveJobs: jobs valid at once for one chain tip.
    ///   - staleMemory: how many retired job ids are remembered as stale.
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
            for old in jobs { retire(old.jobID) }
            jobs.removeAll(keepingCapacity: true)
            seen.removeAll()
        } else if jobs.count >= maximumActiveJobs {
            retire(jobs.removeFirst().jobID)
        }
        jobs.removeAll { $0.jobID == job.jobID }
        jobs.append(job)
    }

    /// Validates `share` against the system clock (`time(nil)`: a vDSO read, no allocation).
    public mutating func validate(_ share: Share) -> ShareOutcome {
        validate(share, now: UInt32(truncatingIfNeeded: time(nil)))
    }

    /// Validates `share` and records it for duplicate detection when accepted; `now` (unix seconds, coarse is
    /// fine) bounds `ntime` at the consensus limit, now + 2 hours.
    public mutating func validate(_ share: Share, now: UInt32) -> ShareOutcome {
        guard let index = jobs.firstIndex(where: { $0.jobID == share.jobID }) else {
            return .rejected(isStale(share.jobID) ? .staleShare : .invalidJobID)
        }
        switch jobs[index].check(share, now: now) {
        case .failure(let rejection):
            return .rejected(rejection)
        case .success(let (header, hash)):
            let job = jobs[index]
            if job.blockTarget.isMet(by: hash) {
                guard seen.insert(hash) else { return .rejected(.duplicateShare) }
                return .blockFound(hash: hash, header: header)
            }
            guard job.target.isMet(by: hash) else { return .rejected(.difficultyTooLow) }
            guard seen.insert(hash) else { return .rejected(.duplicateShare) }
            return .accepted(hash: hash)
        }
    }

    private mutating func retire(_ jobID: UInt32) {
        staleIDs[staleNext] = jobID
        staleValid[staleNext] = true
        staleNext = (staleNext + 1) % staleIDs.count
    }

    private func isStale(_ jobID: UInt32) -> Bool {
        for i in 0..<staleIDs.count where staleValid[i] && staleIDs[i] == jobID { return true }
        return false
    }
}
