public import Sv2Service
public import Reactor
public import Sv2Bitcoin

/// Everything a `ProxyAggregator` needs: where miners connect, which pool to aggregate them into, and how.
public struct ProxyConfiguration: Sendable {
    /// The Mining server miners connect to (listen address, Noise identity, timeouts).
    public var downstream: Sv2ServerConfiguration
    /// The upstream pool connection (address, security). Its protocol must be `.mining`.
    public var upstream: Sv2ClientConfiguration
    /// `user_identity` of the one extended channel opened upstream.
    public var userIdentity: String
    /// Hashrate announced upstream (H/s); the pool derives its first target from it.
    public var nominalHashrate: Float
    /// `min_extranonce_size` requested upstream: the bytes that tell downstream channels apart (1…8; 2 bytes =
    /// 65 536 concurrent channels).
    public var localPrefixLength: Int
    /// Downstream targets are set so each miner finds about this many shares a minute at its nominal hashrate.
    public var downstreamSharesPerMinute: Double
    /// A fixed target for every downstream channel instead (still bounded by each miner's `max_target`).
    public var downstreamTarget: Target?
    /// Shares of one downstream channel that may wait for their acknowledgement (acknowledgements go out in
    /// submission order, so a share the pool has not answered holds back the ones after it). Past this the pool is
    /// not answering: further shares are refused `upstream-unavailable`, never queued without bound. A CPU miner
    /// on a tiny target keeps thousands of shares in flight within one acknowledgement interval: keep it generous
    /// (5 bytes per share).
    public var maxUnacknowledgedSharesPerChannel: Int = 65_536
    /// Upstream pools in fail-over order (host names allowed); empty: just ``upstream``'s `serverAddress`. The
    /// proxy reconnects with ``reconnectPolicy`` and keeps its miners connected meanwhile.
    public var upstreamEndpoints: [Endpoint] = []
    /// Backoff, jitter and return-to-first for the upstream link.
    public var reconnectPolicy = ReconnectPolicy()
    /// Channel opens that may wait for the upstream channel (while connecting or reconnecting); more are refused.
    public var maxPendingOpens = 4096
    /// Duplicate-share table size per downstream channel (slots; see ``PoolConfiguration/duplicateFilterCapacity``):
    /// when it fills, the channel's running job is handed out again above an ntime floor.
    public var duplicateFilterCapacity: Int = 1 << 16

    /// Creates a configuration.
    public init(
        downstream: Sv2ServerConfiguration, upstream: Sv2ClientConfiguration, userIdentity: String,
        nominalHashrate: Float = 1e12, localPrefixLength: Int = 2, downstreamSharesPerMinute: Double = 6,
        downstreamTarget: Target? = nil
    ) {
        self.downstream = downstream
        self.upstream = upstream
        self.userIdentity = userIdentity
        self.nominalHashrate = nominalHashrate
        self.localPrefixLength = localPrefixLength
        self.downstreamSharesPerMinute = downstreamSharesPerMinute
        self.downstreamTarget = downstreamTarget
    }

    /// Checks the values are usable.
    public func validate() throws(Sv2ServiceError) {
        try downstream.validate()
        try upstream.validate()
        guard upstream.sv2Protocol == .mining else { throw .invalidConfiguration("the upstream must be a Mining connection") }
        guard (1...8).contains(localPrefixLength) else { throw .invalidConfiguration("localPrefixLength must be within 1...8") }
        guard userIdentity.utf8.count <= 255 else { throw .invalidConfiguration("userIdentity is longer than 255 bytes") }
        guard downstreamSharesPerMinute.isFinite, downstreamSharesPerMinute > 0 else {
            throw .invalidConfiguration("downstreamSharesPerMinute must be positive")
        }
        guard maxUnacknowledgedSharesPerChannel >= 1 else {
            throw .invalidConfiguration("maxUnacknowledgedSharesPerChannel must be at least 1")
        }
        guard nominalHashrate.isFinite, nominalHashrate >= 0 else {
            throw .invalidConfiguration("nominalHashrate must be finite and non-negative")
        }
    }
}
