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
    /// Connections beyond this are refused at accept. Keep it below the process's descriptor limit (`sv2` apps
    /// derive their default from it).
    public var maxConnections = 100_000
    /// Connections accepted but not yet set up (Noise handshake + SetupConnection) beyond this are refused at accept,
    /// before any crypto. Sized for a reconnect storm: at ~4,000 handshakes/s per loop, 20,000 in flight is five
    /// seconds of handshake work, half the default `handshakeTimeout`.
    public var maxHandshakesInFlight = 20_000
    /// Most open connections from one source (an IPv4 address, or an IPv6 /64). Generous on purpose: thousands of
    /// miners behind one NAT address are real, and `sv2 loadtest` puts 20,000 connections on each source address. One
    /// IPv4 address has ~28k source ports towards one server port anyway; this keeps one host from holding more.
    public var maxConnectionsPerSource = 25_000
    /// New connections one source may open per second, sustained (token bucket refill rate)...
    public var newConnectionsPerSourcePerSecond: Double = 1_000
    /// ...and at once after being quiet (bucket size): a whole NAT'ed farm reconnecting after a pool restart passes.
    public var newConnectionsPerSourceBurst = 10_000
    /// Noise act 1 responses (ECDH + signature, ~250 µs each) are computed on a thread of the server's own instead of
    /// the loop thread, so a handshake flood that passes admission control costs established connections a thread
    /// hop per handshake, not the crypto. Off: they are computed on the loop, `maxHandshakesPerIteration` at a time.
    public var handshakesOnWorkerThread = true
    /// With `handshakesOnWorkerThread` off: Noise act 1 responses computed per loop iteration; further act 1s wait for
    /// the next iteration (FIFO), so a handshake flood delays established connections by at most this many responses.
    public var maxHandshakesPerIteration = 1
    /// Warning lines about closed or refused connections per `hostileLogInterval`; the rest are counted and summed
    /// up in one "suppressed N" line per interval (a flood must not become a log flood).
    public var hostileLogLinesPerInterval = 20
    /// The window of `hostileLogLinesPerInterval`.
    public var hostileLogInterval: Duration = .seconds(1)
    /// A frame that started arriving must be complete within this time (slow-sender guard after setup).
    public var partialFrameTimeout: Duration = .seconds(30)
    /// Largest accepted frame payload (the protocol allows 16 MiB; mining traffic needs a few KiB). A whole encrypted
    /// frame of this size must fit the event loop's `maxReadBufferSize` (checked when the service is created).
    public var maxFramePayload = 512 << 10
    /// The `server` dimension of this server's swift-metrics series (`nil`: a name unique in the process, so two
    /// servers never merge their counters).
    public var metricsName: String?
    /// Listen with `SO_REUSEPORT` (see `EventLoop.listen(on:backlog:reusePort:onAccept:)`): several servers, each on
    /// its own loop, share ``listenAddress`` and the kernel spreads connections over them (a multi-core pool).
    public var reusePort = false

    /// Largest frame payload accepted before SetupConnection completes: SetupConnection's own maximum (protocol,
    /// versions, flags, port and five STR0_255 fields = 1,291 bytes). Applies to clients too (the answers are smaller).
    public static let preSetupMaxFramePayload = 1 + 2 + 2 + 4 + 2 + 5 * 256

    /// Creates a configuration listening on `listenAddress`.
    public init(listenAddress: SocketAddress, noise: NoiseResponder.Identity? = nil) {
        self.listenAddress = listenAddress
        self.noise = noise
    }

    /// Checks the values are usable.
    public func validate() throws(Sv2ServiceError) {
        guard minVersion <= maxVersion else { throw .invalidConfiguration("minVersion > maxVersion") }
        guard maxConnections > 0 else { throw .invalidConfiguration("maxConnections must be positive") }
        guard maxHandshakesInFlight > 0, maxConnectionsPerSource > 0, newConnectionsPerSourceBurst > 0,
              newConnectionsPerSourcePerSecond > 0, newConnectionsPerSourcePerSecond.isFinite
        else { throw .invalidConfiguration("admission limits must be positive") }
        guard maxHandshakesPerIteration > 0 else { throw .invalidConfiguration("maxHandshakesPerIteration must be positive") }
        guard hostileLogLinesPerInterval >= 0, hostileLogInterval > .zero else {
            throw .invalidConfiguration("hostile log limit must be >= 0 per positive interval")
        }
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
