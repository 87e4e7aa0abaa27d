public import Sv2Mining

/// What a `ProxyAggregator` has done so far; a plain value for the CLI and tests.
public struct ProxyStatistics: Sendable, Hashable {
    /// The upstream extended channel, once open.
    public var upstreamChannelID: UInt32?
    /// Its extranonce prefix.
    public var upstreamExtranoncePrefix: Extranonce?
    /// Its rollable extranonce size (the bytes that identify downstream channels).
    public var upstreamExtranonceSize = 0
    /// `SetExtranoncePrefix`es applied to the upstream channel at its next job (each moves every downstream channel's
    /// prefix for later jobs under the new one; the running job keeps its own).
    public var upstreamExtranoncePrefixChanges = 0
    /// `OpenMiningChannel.Error` code if the pool refused the upstream channel.
    public var upstreamChannelError: String?
    /// Downstream channels open now.
    public var openChannels = 0
    /// Downstream channels opened in total.
    public var channelsOpened = 0
    /// Upstream jobs received (each relayed to every downstream channel).
    public var jobsReceived = 0
    /// `NewMiningJob`s sent downstream.
    public var jobsSent = 0
    /// Upstream chain tips received.
    public var prevHashesReceived = 0
    /// Shares received from miners.
    public var sharesReceived = 0
    /// Shares rejected by the proxy's own validation (below the downstream target, stale, duplicate, …).
    public var sharesRejectedLocally = 0
    /// Valid shares not forwarded because the upstream link was congested (answered `upstream-unavailable`).
    public var sharesDroppedCongested = 0
    /// Blocks forwarded while the upstream link was congested (ordinary shares would have been shed).
    public var blocksForwardedCongested = 0
    /// Blocks the upstream link could not take at all (closed, or at the reactor's write-buffer cap); each is
    /// logged at error level with every share field.
    public var blocksNotForwarded = 0
    /// Rejections by code (local and relayed from upstream).
    public var rejections: [String: Int] = [:]
    /// Valid shares below the upstream target, acknowledged by the proxy itself.
    public var sharesAcceptedLocally = 0
    /// Shares forwarded upstream as `SubmitSharesExtended`.
    public var sharesForwarded = 0
    /// Forwarded shares the pool accepted.
    public var upstreamAccepted = 0
    /// Forwarded shares the pool rejected.
    public var upstreamRejected = 0
    /// Shares that met the network target.
    public var blocksFound = 0
    /// Times the upstream link was lost (miners were kept and the link reconnected).
    public var upstreamLosses = 0
    /// Downstream channels whose duplicate filter filled, so their running job was renewed above an ntime floor.
    public var duplicateFilterRollovers = 0

    /// Creates empty statistics.
    public init() {}
}
