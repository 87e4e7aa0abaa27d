public import Reactor
public import Sv2Noise
import Sv2Codec

/// Everything an `Sv2Server` needs besides its handlers. A plain value with defaults; `validate()` runs on start.
public struct Sv2ServerConfiguration: Sendable {
    /// Address to listen on (IPv4 or IPv6; port 0 picks a free port, see `Sv2Server.localAddress`).
    public var listenAddress: SocketAddress
    /// Lowest protocol version served (the spec's current version is 2).
    public var minVersion: UInt16 = 2
    /// Highest protocol version served.
    public var maxVersion: UInt16 = 2
    /// SetupConnection policy for the Mining protocol.
    public var miningSetup = Sv2SetupPolicy.mining
    /// SetupConnection policy for the Job Declaration protocol.
    public var jobDeclarationSetup = Sv2SetupPolicy.jobDeclaration
    /// SetupConnection policy for the Template Distribution protocol.
    public var templateDistributionSetup = Sv2SetupPolicy.templateDistribution
    /// Noise identity (authority-signed certificate); `nil` serves plain, unencrypted Sv2 (tests, trusted LANs).
    public var noise: NoiseResponder.Identity?
    /// Extensions (0x0001 negotiation) this server supports.
    public var supportedExtensions: [UInt16] = []
    /// Connections that receive nothing for this long are closed.
    public var inactivityTimeout: Duration = .seconds(120)
    /// Noise handshake plus SetupConnection must finish within this time (slowloris guard).
    public var handshakeTimeout: Duration = .seconds(10)
    /// Connections beyond this are refused at accept.
    public var maxConnections = 100_000
    /// A frame that started arriving must be complete within this time (slow-sender guard after setup).
    public var partialFrameTimeout: Duration = .seconds(30)
    /// Largest accepted frame payload (the protocol allows 16 MiB; mining traffic needs a few KiB). A whole encrypted
    /// frame of this size must fit the event loop's `maxReadBufferSize` (checked when the service is created).
    public var maxFramePayload = 512 << 10
    /// The `server` dimension of this server's swift-metrics series (`nil`: a name unique in the process, so two
    /// servers never merge their counters).
    public var metricsName: String?

    /// Creates a configuration listening on `listenAddress`.
    public init(listenAddress: SocketAddress, noise: NoiseResponder.Identity? = nil) {
        self.listenAddress = listenAddress
        self.noise = noise
    }

    /// Checks the values are usable.
    public func validate() throws(Sv2ServiceError) {
        guard minVersion <= maxVersion else { throw .invalidConfiguration("minVersion > maxVersion") }
        guard maxConnections > 0 else { throw .invalidConfiguration("maxConnections must be positive") }
        guard maxFramePayload >= 64, maxFramePayload <= 0xFF_FFFF else {
            throw .invalidConfiguration("maxFramePayload must be within 64...16777215")
        }
        guard handshakeTimeout > .zero, inactivityTimeout > .zero, partialFrameTimeout > .zero else {
            throw .invalidConfiguration("timeouts must be positive")
        }
    }

    /// The policy for `sv2Protocol`.
    func setupPolicy(for sv2Protocol: Sv2Protocol) -> Sv2SetupPolicy {
        switch sv2Protocol {
        case .mining: miningSetup
        case .jobDeclaration: jobDeclarationSetup
        case .templateDistribution: templateDistributionSetup
        }
    }
}
