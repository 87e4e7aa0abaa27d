public import Sv2Bitcoin
public import Sv2Mining

/// Something a `MinerSession` reports as it happens (for live output in the CLI / demo).
public enum MinerEvent: Sendable, Hashable {
    /// The channel is open.
    case channelOpened(channelID: UInt32, target: Target, extranoncePrefix: Extranonce)
    /// The upstream refused the channel.
    case channelRefused(code: String)
    /// The workers got new work (job, chain tip, target or prefix changed).
    case newWork(jobID: UInt32, target: Target)
    /// A share was sent upstream.
    case shareSubmitted(sequenceNumber: UInt32, jobID: UInt32, hash: Hash256)
    /// The upstream accepted `count` shares (up to `lastSequenceNumber`).
    case sharesAccepted(count: UInt32, lastSequenceNumber: UInt32)
    /// The upstream rejected a share.
    case shareRejected(sequenceNumber: UInt32, code: String)
    /// A submitted share also meets the network target.
    case blockFound(hash: Hash256)
    /// Hashrate over the last interval, in H/s.
    case hashrate(Double)
    /// The upstream closed the channel.
    case channelClosed(code: String)
}
