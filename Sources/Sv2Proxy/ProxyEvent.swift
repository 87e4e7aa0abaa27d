public import Sv2Bitcoin
public import Sv2Mining

/// Something a `ProxyAggregator` reports as it happens (for live output in the CLI / demo).
public enum ProxyEvent: Sendable, Hashable {
    /// The upstream extended channel is open.
    case upstreamChannelOpened(channelID: UInt32, extranoncePrefix: Extranonce, extranonceSize: Int)
    /// The pool refused the upstream channel.
    case upstreamChannelRefused(code: String)
    /// The upstream channel's extranonce prefix changed (`SetExtranoncePrefix`, applied at its next job).
    case upstreamExtranoncePrefixChanged(extranoncePrefix: Extranonce)
    /// A miner opened a standard channel.
    case channelOpened(channelID: UInt32, user: String, extranoncePrefix: Extranonce)
    /// A downstream channel closed.
    case channelClosed(channelID: UInt32)
    /// A share was forwarded upstream.
    case shareForwarded(channelID: UInt32, jobID: UInt32, hash: Hash256)
    /// The pool accepted `count` forwarded shares.
    case upstreamAccepted(count: UInt32)
    /// The pool rejected a forwarded share.
    case upstreamRejected(channelID: UInt32, code: String)
    /// A forwarded share meets the network target.
    case blockFound(hash: Hash256)
}
