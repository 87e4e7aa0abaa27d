public import Sv2Codec
public import Sv2Bitcoin

/// Client-side state of one mining channel: what the upstream told it (extranonce prefix, target, jobs, chain tip)
/// and the header template of the job to mine now.
///
/// Follows notes §6.3: a job without `min_ntime` is a future job, activated by a `SetNewPrevHash` naming it (which
/// makes every other job stale); a job with `min_ntime` is active at once on the last chain tip. `SetTarget` applies
/// to future jobs; the running job keeps the harder of its target and the new one, so every share it finds is
/// valid whichever target the upstream checks it against. `SetExtranoncePrefix` applies to jobs received after it
/// (spec): every job keeps the prefix it was sent under, so the running job stays valid, with its old prefix, until
/// a later job becomes active (at once, or at its `SetNewPrevHash` for a future one). Mutations return `true` when
/// ``work`` changed (the miner must switch).
public struct MinerJobTracker: Sendable {
    /// The channel's type as opened.
    public enum ChannelKind: Sendable, Hashable {
        /// Header-only mining on standard jobs.
        case standard
        /// Extended jobs; the miner rolls `extranonceSize` bytes after the channel's prefix.
        case extended(extranonceSize: Int)
    }

    /// The prev hash, time and difficulty of the block being mined on.
    public struct ChainTip: Sendable, Hashable {
        /// Previous block hash (raw order).
        public var prevHash: Hash256
        /// Earliest header time.
        public var minNtime: UInt32
        /// Network compact target.
        public var nbits: UInt32
    }

    /// The channel id.
    public let channelID: UInt32
    /// Standard or extended.
    public let kind: ChannelKind
    /// The channel's extranonce prefix for jobs received from now on (fixed by the upstream: the open success, then
    /// the latest `SetExtranoncePrefix`).
    public private(set) var extranoncePrefix: Extranonce
    /// The prefix ``activeJob`` was sent under (and ``work`` is built with): ``extranoncePrefix`` unless a
    /// `SetExtranoncePrefix` came after that job and no later job became active yet.
    public private(set) var activeExtranoncePrefix: Extranonce
    /// The channel target for jobs from now on.
    public private(set) var target: Target
    /// The current chain tip, once a `SetNewPrevHash` arrived.
    public private(set) var chainTip: ChainTip?
    /// The job being mined, once one is active.
    public private(set) var activeJob: MinerJob?
    /// The header template of ``activeJob`` on ``chainTip`` with its target; `nil` until both exist.
    public private(set) var work: ShareJob?
    /// Future jobs with the prefix each was sent under, oldest first.
    private var futureJobs: [(job: MinerJob, prefix: Extranonce)] = []
    private var activeTarget: Target

    /// Future jobs kept at most (older ones are dropped first).
    public static let maximumFutureJobs = 16

    /// Creates the state of a channel just opened.
    public init(channelID: UInt32, kind: ChannelKind, extranoncePrefix: Extranonce, target: Target) {
        self.channelID = channelID
        self.kind = kind
        self.extranoncePrefix = extranoncePrefix
        activeExtranoncePrefix = extranoncePrefix
        self.target = target
        activeTarget = target
    }

    /// The state of a standard channel from its `OpenStandardMiningChannel.Success`.
    public init(_ success: OpenStandardMiningChannelSuccessView) throws(MinerJobError) {
        guard let prefix = Extranonce(copying: success.extranoncePrefix) else {
            throw .extranonceTooLong(prefix: success.extranoncePrefix.count, rollable: 0)
        }
        self.init(
            channelID: success.channelID, kind: .standard, extranoncePrefix: prefix,
            target: WireConversions.target(success.target))
    }

    /// The state of an extended channel from its `OpenExtendedMiningChannel.Success`.
    public init(_ success: OpenExtendedMiningChannelSuccessView) throws(MinerJobError) {
        let size = Int(success.extranonceSize)
        guard let prefix = Extranonce(copying: success.extranoncePrefix), prefix.count + size <= Extranonce.maxLength
        else { throw .extranonceTooLong(prefix: success.extranoncePrefix.count, rollable: size) }
        self.init(
            channelID: success.channelID, kind: .extended(extranonceSize: size), extranoncePrefix: prefix,
            target: WireConversions.target(success.target))
    }

    /// Extranonce bytes the miner rolls (0 on standard channels).
    public var extranonceSize: Int {
        if case .extended(let size) = kind { size } else { 0 }
    }

    /// Ids of the future jobs waiting for a `SetNewPrevHash`, oldest first.
    public var futureJobIDs: [UInt32] { futureJobs.map(\.job.jobID) }

    /// The future jobs waiting for a `SetNewPrevHash`, oldest first.
    public var pendingFutureJobs: [MinerJob] { futureJobs.map(\.job) }

    /// The extranonce prefix job `jobID` (the active one or a future one) was sent under; `nil` for a job not held.
    public func extranoncePrefix(ofJob jobID: UInt32) -> Extranonce? {
        if let future = futureJobs.last(where: { $0.job.jobID == jobID }) { return future.prefix }
        return activeJob?.jobID == jobID ? activeExtranoncePrefix : nil
    }

    /// Records a new job. A future job waits; an immediate one replaces the active job on the current tip.
    @discardableResult
    public mutating func receive(_ job: MinerJob) throws(MinerJobError) -> Bool {
        guard job.isExtended == (kind != .standard) else {
            throw .jobKindMismatch(jobID: job.jobID, extended: job.isExtended)
        }
        if job.isFuture {
            futureJobs.removeAll { $0.job.jobID == job.jobID }
            if futureJobs.count >= MinerJobTracker.maximumFutureJobs { futureJobs.removeFirst() }
            futureJobs.append((job, extranoncePrefix))
            return false
        }
        activeJob = job
        activeExtranoncePrefix = extranoncePrefix
        activeTarget = target
        return rebuild()
    }

    /// Records a `NewMiningJob`.
    @discardableResult
    public mutating func receive(_ message: NewMiningJobView) throws(MinerJobError) -> Bool {
        try receive(MinerJob(message))
    }

    /// Records a `NewExtendedMiningJob`.
    @discardableResult
    public mutating func receive(_ message: NewExtendedMiningJobView) throws(MinerJobError) -> Bool {
        try receive(MinerJob(message))
    }

    /// A new chain tip: the named future job becomes the active one, every other job becomes stale.
    @discardableResult
    public mutating func setNewPrevHash(
        jobID: UInt32, prevHash: Hash256, minNtime: UInt32, nbits: UInt32
    ) throws(MinerJobError) -> Bool {
        let job: MinerJob
        let prefix: Extranonce
        if let index = futureJobs.firstIndex(where: { $0.job.jobID == jobID }) {
            (job, prefix) = futureJobs[index]
        } else if let active = activeJob, active.jobID == jobID {
            (job, prefix) = (active, activeExtranoncePrefix)  // tolerated: an upstream re-basing its active job
        } else {
            throw .unknownJob(jobID)
        }
        futureJobs.removeAll()
        chainTip = ChainTip(prevHash: prevHash, minNtime: minNtime, nbits: nbits)
        activeJob = job
        activeExtranoncePrefix = prefix
        activeTarget = target
        return rebuild()
    }

    /// Records a `SetNewPrevHash`.
    @discardableResult
    public mutating func receive(_ message: SetNewPrevHashView) throws(MinerJobError) -> Bool {
        try setNewPrevHash(
            jobID: message.jobID, prevHash: WireConversions.hash(message.prevHash), minNtime: message.minNtime,
            nbits: message.nbits)
    }

    /// A new channel target (`SetTarget`): used by future jobs; the running job only ever gets harder.
    @discardableResult
    public mutating func setTarget(_ newTarget: Target) -> Bool {
        target = newTarget
        guard newTarget < activeTarget else { return false }
        activeTarget = newTarget
        return rebuild()
    }

    /// A new extranonce prefix (`SetExtranoncePrefix`) for the jobs received from now on. The running job and the
    /// future jobs already received keep the prefix they were sent under (the upstream checks their shares against
    /// it), so ``work`` does not change: always `false`. The new prefix reaches ``work`` with the first later job
    /// that becomes active.
    @discardableResult
    public mutating func setExtranoncePrefix(_ prefix: Extranonce) throws(MinerJobError) -> Bool {
        guard prefix.count + extranonceSize <= Extranonce.maxLength else {
            throw .extranonceTooLong(prefix: prefix.count, rollable: extranonceSize)
        }
        extranoncePrefix = prefix
        return false
    }

    /// True when a share for `jobID` on `prevHash` is still worth submitting.
    public func isCurrent(jobID: UInt32, prevHash: Hash256) -> Bool {
        activeJob?.jobID == jobID && chainTip?.prevHash == prevHash
    }

    /// The target shares of the running job must meet.
    public var workTarget: Target { activeTarget }

    private mutating func rebuild() -> Bool {
        guard let job = activeJob, let tip = chainTip else {
            work = nil
            return false
        }
        let minNtime = Swift.max(job.minNtime ?? tip.minNtime, tip.minNtime)
        switch job.body {
        case .standard(let merkleRoot):
            work = ShareJob(
                standardJobID: job.jobID, version: job.version, prevHash: tip.prevHash, merkleRoot: merkleRoot,
                nbits: tip.nbits, minNtime: minNtime, target: activeTarget)
        case .extended(let prefix, let suffix, let path):
            work = ShareJob(
                extendedJobID: job.jobID, version: job.version, versionRollingAllowed: job.versionRollingAllowed,
                prevHash: tip.prevHash, coinbasePrefix: prefix, extranoncePrefix: activeExtranoncePrefix,
                extranonceSize: extranonceSize, coinbaseSuffix: suffix, merklePath: path, nbits: tip.nbits,
                minNtime: minNtime, target: activeTarget)
        }
        return true
    }
}

/// Why a client could not apply what its upstream sent.
public enum MinerJobError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Extranonce prefix plus rollable size exceed 32 bytes.
    case extranonceTooLong(prefix: Int, rollable: Int)
    /// A standard job on an extended channel or the reverse.
    case jobKindMismatch(jobID: UInt32, extended: Bool)
    /// `SetNewPrevHash` named a job that was never sent as a future job.
    case unknownJob(UInt32)

    public var description: String {
        switch self {
        case .extranonceTooLong(let prefix, let rollable):
            "extranonce prefix of \(prefix) bytes plus \(rollable) rollable bytes exceeds 32"
        case .jobKindMismatch(let jobID, let extended):
            "job \(jobID) is \(extended ? "extended" : "standard"), the channel is not"
        case .unknownJob(let jobID): "SetNewPrevHash for unknown job \(jobID)"
        }
    }
}
