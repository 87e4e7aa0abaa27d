public import Sv2Bitcoin
public import Sv2Mining

/// A share a CPU-miner worker found: what to submit, the job it was mined on and its hash.
public struct FoundShare: Sendable {
    /// The share fields (`extranonce` is the rolled part on extended channels, empty on standard ones).
    public var share: Share
    /// The header's SHA-256d (raw order).
    public var hash: Hash256
    /// The job the worker mined (its prev hash, targets and merkle data).
    public var job: ShareJob
    /// The miner's work generation the share belongs to (see `CPUMiner.generation`).
    public var generation: UInt64

    /// True when the hash also meets the network target: a block.
    public var isBlock: Bool { job.blockTarget.isMet(by: hash) }
}
