import Sv2Service
import Sv2Bitcoin
import Sv2Mining

/// One downstream standard channel of a `ProxyAggregator`.
///
/// Its extranonce prefix is `upstream prefix ‖ local id ‖ zero padding` and fills the upstream channel's whole
/// extranonce, so the miner only rolls header fields; the `local id ‖ padding` part is what the proxy submits
/// upstream as `SubmitSharesExtended.extranonce`. That part outlives an upstream `SetExtranoncePrefix`: each job is
/// built (merkle root, share check) under the upstream prefix it was sent with, so a share on a job sent before the
/// change is still checked, forwarded and credited under the old prefix.
struct ProxyChannel {
    /// Downstream channel id.
    let id: UInt32
    /// The miner's connection.
    let connection: Sv2ConnectionID
    /// `user_identity` of the miner.
    let user: String
    /// The local id the allocator handed out, released on close. Replaced when the proxy opens a new upstream
    /// channel (after a reconnect or fail-over), whose extranonce size may differ.
    var allocatedPrefix: Extranonce
    /// The full prefix of the jobs sent from now on (upstream prefix ‖ ``upstreamExtranonce``). A standard
    /// channel's miner never sees it in its work (the proxy bakes it into each job's merkle root), so it can change
    /// under the miner.
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

    /// The channel's full prefix under the upstream prefix `upstream` (that of the job it is for).
    func prefix(under upstream: Extranonce) -> Extranonce {
        // Fits: the upstream checked prefix + extranonce size ≤ 32 for every prefix it took.
        Extranonce(bytes: upstream.bytes + upstreamExtranonce)!
    }

    /// The merkle root of `job`, sent under the upstream prefix `upstream`, for this channel: the coinbase with this
    /// channel's prefix under it, up the job's path.
    func merkleRoot(of job: MinerJob, under upstream: Extranonce) -> Hash256 {
        switch job.body {
        case .standard(let root):
            return root
        case .extended(let coinbasePrefix, let coinbaseSuffix, let merklePath):
            let txid = SHA256d.hash(coinbasePrefix + upstream.bytes + upstreamExtranonce + coinbaseSuffix)
            return MerkleRoot.compute(coinbaseTxid: txid, path: merklePath)
        }
    }

    /// The validation job for `job` (sent under the upstream prefix `upstream`) on `tip`, checked against this
    /// channel's target.
    func shareJob(for job: MinerJob, on tip: MinerJobTracker.ChainTip, under upstream: Extranonce) -> ShareJob {
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
                prevHash: tip.prevHash, coinbasePrefix: coinbasePrefix, extranoncePrefix: prefix(under: upstream),
                extranonceSize: 0,
                coinbaseSuffix: coinbaseSuffix, merklePath: merklePath, nbits: tip.nbits, minNtime: minNtime,
                target: target)
        }
    }
}
