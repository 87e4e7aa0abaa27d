public import Sv2Codec
public import Sv2Service
import Sv2Mining

/// The pool's side of a `ProxyAggregator`: the one extended channel, its jobs and the share acknowledgements.
public struct ProxyUpstreamHandler: Sv2MiningClientHandler {
    /// The aggregator holding the state (it owns the client; weak to avoid a cycle, and so that an application that
    /// releases its proxy while connections are still draining gets a typed error on them, not a crash).
    public private(set) weak var proxy: ProxyAggregator?

    /// Wraps `proxy`.
    public init(proxy: ProxyAggregator) { self.proxy = proxy }

    /// The aggregator, or a typed error once the application released it.
    private func aggregator() throws(Sv2ServiceError) -> ProxyAggregator {
        guard let proxy else { throw .rejected("the proxy was released") }
        return proxy
    }

    /// Opens the extended channel.
    public mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamDidSetUp(context: context)
    }

    /// The upstream link is gone: the proxy keeps its miners and reconnects (see `ProxyAggregator.upstreamDidClose`).
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        proxy?.upstreamDidClose()
    }

    /// The upstream channel is open: downstream channels can be served.
    public mutating func handle(
        _ message: OpenExtendedMiningChannelSuccessView, context: Sv2ClientContext
    ) throws(Sv2ServiceError) {
        let tracker: MinerJobTracker
        do { tracker = try MinerJobTracker(message) } catch { throw .rejected("\(error)") }
        try aggregator().upstreamChannelOpened(tracker, groupChannelID: message.groupChannelID)
    }

    /// The pool refused the channel.
    public mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamChannelRefused(code: String(decoding: message.errorCode, as: UTF8.self))
    }

    /// An extended job: one `NewMiningJob` per downstream channel.
    public mutating func handle(_ message: NewExtendedMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamJob(MinerJob(message), channel: message.channelID)
    }

    /// A new chain tip, relayed per channel.
    public mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamPrevHash(message)
    }

    /// The upstream target (decides which shares are forwarded).
    public mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamTarget(WireConversions.target(message.maximumTarget), channel: message.channelID)
    }

    /// Acknowledgements, split per downstream channel.
    public mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamAccepted(message)
    }

    /// A rejected share, relayed to its miner.
    public mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamRejected(message)
    }

    /// Group membership needs no action (group jobs are accepted by the group id).
    public mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {}

    /// A new prefix for the aggregated channel: followed from its next job on (every downstream channel re-prefixed).
    public mutating func handle(_ message: SetExtranoncePrefixView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try aggregator().upstreamExtranoncePrefix(channel: message.channelID, prefix: message.extranoncePrefix)
    }

    /// Nothing to do: the channel keeps its settings.
    public mutating func handle(_ message: UpdateChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
}
