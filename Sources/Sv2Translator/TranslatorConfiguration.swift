public import Reactor
public import Sv2Service

/// How a ``Sv2Translator`` runs: where devices connect, the upstream pool, and the per-device difficulty policy.
public struct TranslatorConfiguration: Sendable {
    /// Address Sv1 devices connect to.
    public var listenAddress: SocketAddress
    /// The Sv2 upstream (pool or proxy): address, Noise authority key or plain.
    public var upstream: Sv2ClientConfiguration
    /// Upstreams in failover order; when not empty, ``Sv2Failover`` drives the upstream link over them (with
    /// backoff, back to the first when it answers) instead of one connection to `upstream.serverAddress`.
    public var upstreamEndpoints: [Endpoint] = []
    /// Backoff of the failover over ``upstreamEndpoints``.
    public var reconnectPolicy = ReconnectPolicy()
    /// One upstream channel for all devices, or one per device (all on the one upstream connection).
    public var channelMode = TranslatorChannelMode.aggregated
    /// `user_identity` of every upstream extended channel (in per-device mode too: see ``TranslatorChannelMode``).
    public var userIdentity: String
    /// Nominal hashrate announced per upstream channel (H/s): the pool derives its first target from it. The whole
    /// farm's in aggregated mode, one device's in per-device mode.
    public var upstreamHashrate: Float = 1e15
    /// Shares per minute each device should submit (per-device vardiff aims at it).
    public var sharesPerMinute: Double = 20
    /// The lowest difficulty any device gets (its easiest target); devices may ask for more, never for less.
    public var minimumDifficulty: Double = 1
    /// Expected hashrate of one device (H/s): its first difficulty is the one that yields ``sharesPerMinute``.
    public var deviceHashrate: Double = 100e12
    /// Seconds between vardiff decisions per device.
    public var vardiffWindow: Double = 60
    /// Extranonce bytes each device rolls (`extranonce2_size`), at most what the upstream leaves (per device: the
    /// minimum extranonce size asked for each channel; a bigger one is zero-padded in the device's extranonce1).
    public var extranonce2Size: Int = 4
    /// Bytes of the upstream extranonce that number the devices (2: up to 65,536 devices at once).
    public var deviceIDLength: Int = 2
    /// Longest Sv1 line accepted from a device (bytes); longer lines close the connection.
    public var maxLineLength: Int = 4096
    /// Devices connected at once; further connections are refused. Per device it also bounds the upstream
    /// channels (one per device) and the channel requests waiting for an answer.
    public var maxDevices: Int = 65_536
    /// Malformed lines a device may send before its connection is closed.
    public var maxMalformedLines: Int = 10
    /// Duplicate-detection slots per device (8 bytes each, grown on demand up to this). When 3/4 full the
    /// device's jobs are renewed with a later `ntime` floor instead of forgetting (see `ShareValidator`).
    public var duplicateFilterCapacity: Int = 1 << 12
    /// Shares forwarded upstream and not yet answered, across all devices; beyond it a share is answered with an
    /// error (the upstream is not keeping up) rather than queued without bound.
    public var maxInFlightShares: Int = 65_536

    /// Creates a configuration with the defaults above.
    public init(listenAddress: SocketAddress, upstream: Sv2ClientConfiguration, userIdentity: String) {
        self.listenAddress = listenAddress
        self.upstream = upstream
        self.userIdentity = userIdentity
    }

    /// Checks the values that would make the translator misbehave.
    public func validate() throws(Sv2ServiceError) {
        guard sharesPerMinute.isFinite, sharesPerMinute > 0 else {
            throw .invalidConfiguration("shares per minute must be positive")
        }
        guard minimumDifficulty.isFinite, minimumDifficulty > 0 else {
            throw .invalidConfiguration("minimum difficulty must be positive")
        }
        guard deviceHashrate.isFinite, deviceHashrate >= 0 else {
            throw .invalidConfiguration("device hashrate must be a non-negative number")
        }
        guard vardiffWindow.isFinite, vardiffWindow > 0 else { throw .invalidConfiguration("vardiff window must be positive") }
        guard (1...8).contains(extranonce2Size) else { throw .invalidConfiguration("extranonce2 size must be 1…8") }
        guard (1...4).contains(deviceIDLength) else { throw .invalidConfiguration("device id length must be 1…4") }
        guard maxLineLength >= 256, maxLineLength <= 1 << 20 else {
            throw .invalidConfiguration("max line length must be 256 B … 1 MiB")
        }
        guard duplicateFilterCapacity >= 16, duplicateFilterCapacity <= 1 << 20 else {
            throw .invalidConfiguration("duplicate filter capacity must be 16 … 2^20")
        }
        guard maxDevices > 0, maxInFlightShares > 0, maxMalformedLines >= 0 else {
            throw .invalidConfiguration("limits must be positive")
        }
        guard upstream.sv2Protocol == .mining else { throw .invalidConfiguration("the upstream must speak Mining") }
        try upstream.validate()
    }
}
