public import Sv2Bitcoin
public import Sv2Mining

/// What the CPU miner's workers hash: one job on one chain tip, the extranonce size to roll and the header time.
public struct MiningWork: Sendable {
    /// The job (prev hash, merkle data, version and mask, targets).
    public var job: ShareJob
    /// Extranonce bytes to roll after the channel's prefix (0 on standard channels).
    public var extranonceSize: Int
    /// Header time the workers start with (raised by one when a worker exhausts its whole search space).
    public var ntime: UInt32

    /// Creates work; `ntime` defaults to the job's `min_ntime`.
    public init(job: ShareJob, extranonceSize: Int, ntime: UInt32? = nil) {
        self.job = job
        self.extranonceSize = extranonceSize
        self.ntime = Swift.max(ntime ?? job.minNtime, job.minNtime)
    }

    /// The target the workers scan for: the easier of the channel target and the network target, so a block is
    /// never missed even when the share target is harder (e.g. regtest).
    public var scanTarget: Target { Swift.max(job.target, job.blockTarget) }
}
