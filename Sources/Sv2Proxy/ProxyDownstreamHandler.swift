public import Sv2Codec
public import Sv2Service
import Sv2Mining

/// The miners' side of a `ProxyAggregator`: standard channels and their shares.
public struct ProxyDownstreamHandler: Sv2MiningServerHandler {
    /// The aggregator holding the state (it owns the server; weak to avoid a cycle, and so that an application that
    /// releases its proxy while connections are still draining gets a typed error on them, not a crash).
    public private(set) weak var proxy: ProxyAggregator?

    /// Wraps `proxy`.
    public init(proxy: ProxyAggregator) { self.proxy = proxy }

    /// The aggregator, or a typed error once the application released it.
    private func aggregator() throws(Sv2ServiceError) -> ProxyAggregator {
        guard let proxy else { throw .rejected("the proxy was released") }
        return proxy
    }

    /// Frees the connection's channels and their extranonce prefixes.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        proxy?.downstreamDidClose(connectionID)
    }

    /// Opens a standard channel with a prefix carved out of the upstream channel's extranonce.
    public mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try aggregator().openStandard(message, context: context)
    }

    /// Extended channels are not aggregated: refused with `extended-channels-not-supported`.
    public mutating func handle(_ message: OpenExtendedMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(OpenMiningChannelError(requestID: message.requestID, errorCode: "extended-channels-not-supported"))
    }

    /// Validates the share locally; forwards it upstream when it meets the upstream target.
    public mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try aggregator().submit(message, context: context)
    }

    /// Extended shares never match a channel here.
    public mutating func handle(_ message: SubmitSharesExtendedView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(SubmitSharesError(
            channelID: message.channelID, sequenceNumber: message.sequenceNumber,
            errorCode: ShareRejection.invalidChannelID.code))
    }

    /// Accepted silently: targets are set by the proxy per channel.
    public mutating func handle(_ message: UpdateChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {}

    /// Frees the channel.
    public mutating func handle(_ message: CloseChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try aggregator().closeChannel(message.channelID, connection: context.connectionID)
    }
}
