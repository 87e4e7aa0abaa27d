import Sv2Service
import Sv2Bitcoin
import Sv2Mining

/// One downstream standard channel of a `ProxyAggregator`.
///
/// Its extranonce prefix is `upstream prefix ‖ local id ‖ zero padding` and fills the upstream channel's whole
/// extranonce, so the miner only rolls header fields; the `local id ‖ padding` part is what the proxy submits
/// upstream as `SubmitSharesExtended.extranonce`.
struct ProxyChannel {
    /// Downstream channel id.
    let id: UInt32
    /// The miner's connection.
    let connection: Sv2ConnectionID
    /// `user_identity` of the miner.
    let user: String
    /// What the allocator handed out (`upstream prefix ‖ local id`), released on close. Replaced when the proxy
    /// opens a new upstream channel (after a reconnect or fail-over) with another prefix.
    var allocatedPrefix: Extranonce
    /// The full prefix the miner's coinbase uses (allocated prefix plus zero padding). A standard channel's miner
    /// never sees it in its work (the proxy bakes it into each job's merkle root), so it can change under the miner.
    var prefix: Extranonce
    /// The upstream extranonce of every share of this channel (`local id ‖ padding`).
    var upstreamExtranonce: [UInt8]
    /// The channel target.
    let target: Target
    /// Validates the miner's shares against the jobs as this channel sees them.
    var validator = ShareValidator()
    /// The channel's shares in submission order until their acknowledgement can go out in order.
    var acks = DownstreamAckQueue()

    /// `new_shares_sum` contribution of one accepted share (its target's difficulty, at least 1).
    var shareWeight: UInt64 { UInt64(Swift.max(1, target.difficulty.rounded())) }

    /// The merkle root of `job` for this channel: the coinbase with this channel's prefix up the job's path.
    func merkleRoot(of job: MinerJob) -> Hash256 {
        switch job.body {
        case .standard(let root):
            return root
        case .extended(let coinbasePrefix, let coinbaseSuffix, let merklePath):
            let txid = SHA256d.hash(coinbasePrefix + prefix.bytes + coinbaseSuffix)
            return MerkleRoot.compute(coinbaseTxid: txid, path: merklePath)
        }
    }

    /// The validation job for `job` on `tip`, checked against this channel's target.
    func shareJob(for job: MinerJob, on tip: MinerJobTracker.ChainTip) -> ShareJob {
        let minNtime = Swift.max(job.minNtime ?? tip.minNtime, tip.minNtime)
        switch job.body {
        case .standard(let root):
            return ShareJob(
                standardJobID: job.jobID, version: job.version, prevHash: tip.prevHash, merkleRoot: root,
                nbits: tip.nbits, minNtime: minNtime, target: target)
        case .extended(let coinbasePrefix, let coinbaseSuffix, let merklePath):
            // Same arithmetic the pool applies to the forwarded share, with the whole extranonce as prefix.
            return ShareJob(
                extendedJobID: job.jobID, version: job.version, versionRollingAllowed: job.versionRollingAllowed,
                prevHash: tip.prevHash, coinbasePrefix: coinbasePrefix, extranoncePrefix: prefix, extranonceSize: 0,
                coinbaseSuffix: coinbaseSuffix, merklePath: merklePath, nbits: tip.nbits, minNtime: minNtime,
                target: target)
        }
    }
}
