public import Reactor
public import Sv2Service
import Sv2Mining

/// What `sv2 loadtest` does: how many simulated miners, how fast, for how long.
public struct LoadTestConfiguration: Sendable {
    /// The pool to drive.
    public var serverAddress: SocketAddress
    /// Simulated miners (one TCP connection and one channel each).
    public var connections = 100
    /// The type of channel each miner opens.
    public var channelKind: LoadTestChannelKind = .standard
    /// Extended channels: `min_extranonce_size` asked for (the miner rolls however many bytes the pool grants).
    public var minimumExtranonceSize = 4
    /// Event loops (threads) the miners are spread over, round-robin.
    public var eventLoops = 1
    /// Reactor backend of the load generator's loops (`nil`: io_uring if available).
    public var backend: ReactorBackend?
    /// Plain or Noise (with the pool's authority key).
    public var security: Sv2ClientConfiguration.Security = .plain
    /// Shares each miner submits per second; 0 submits as fast as acknowledgements return (see ``sharesInFlight``).
    public var sharesPerSecond = 1.0
    /// With `sharesPerSecond == 0`: unacknowledged shares each miner keeps outstanding.
    public var sharesInFlight = 4
    /// Connections are opened evenly over this time.
    public var rampUp: Duration = .seconds(1)
    /// Measured phase after the ramp-up; shares are submitted until it ends.
    public var duration: Duration = .seconds(10)
    /// How often ``LoadTest/run(progress:)`` reports progress (the CLI prints a line each time).
    public var progressInterval: Duration = .seconds(1)
    /// After the measured phase, how long to wait for outstanding acknowledgements.
    public var drainTimeout: Duration = .seconds(5)
    /// Only connect, handshake (Noise + SetupConnection) and disconnect, over and over; no channels or shares.
    public var handshakeOnly = false
    /// Open channels but submit no shares: idle-but-connected miners (e.g. to measure a pool's memory per connection).
    public var idle = false
    /// Local addresses the connections come from.
    public var sourceAddresses: SourceAddressPool
    /// Connect timeout per connection.
    public var connectTimeout: Duration = .seconds(10)
    /// `nominal_hash_rate` each channel announces (H/s). Pools derive the initial target from it, so a small value
    /// gets the easy target the simulated miners can meet (the reference pool ignores it and grants `max_target`).
    public var nominalHashRate: Float = 1
    /// `user_identity` prefix of the channels (the miner's index is appended); in Stratum V1 mode the
    /// `mining.authorize` user and `mining.submit` worker.
    public var userIdentity = "loadtest"
    /// Speak Stratum V1 instead of Sv2: each miner subscribes, authorizes and sends `mining.submit`s (the target is
    /// a Sv1 pool or `sv2 translator`). Plain TCP only; ``channelKind``, ``minimumExtranonceSize`` and
    /// ``nominalHashRate`` do not apply.
    public var stratumV1 = false
    /// Stratum V1: the version-rolling mask asked for with `mining.configure` (`nil`: no `mining.configure`).
    public var sv1VersionRollingMask: UInt32? = 0x1fff_e000
    /// Stratum V1: the `mining.authorize` password.
    public var sv1Password = "x"

    /// Creates a configuration with defaults for everything but the target.
    public init(serverAddress: SocketAddress) {
        self.serverAddress = serverAddress
        sourceAddresses = try! SourceAddressPool()
    }

    /// Checks the values are usable.
    public func validate() throws(LoadTestError) {
        guard connections > 0 else { throw .invalidConfiguration("connections must be positive") }
        guard eventLoops > 0, eventLoops <= 256 else { throw .invalidConfiguration("event loops must be within 1...256") }
        guard sharesPerSecond >= 0, sharesPerSecond.isFinite else {
            throw .invalidConfiguration("shares per second must be ≥ 0")
        }
        guard (0...Extranonce.maxLength).contains(minimumExtranonceSize) else {
            throw .invalidConfiguration("minimum extranonce size must be within 0...32")
        }
        guard sharesInFlight > 0, sharesInFlight <= 4096 else {
            throw .invalidConfiguration("shares in flight must be within 1...4096")
        }
        guard rampUp >= .zero, duration > .zero, drainTimeout >= .zero else {
            throw .invalidConfiguration("ramp-up and drain timeout must be ≥ 0 and duration > 0")
        }
        guard progressInterval >= .milliseconds(10) else {
            throw .invalidConfiguration("progress interval must be ≥ 10 ms")
        }
        guard !stratumV1 || security == .plain else {
            throw .invalidConfiguration("Stratum V1 has no Noise: drop the authority key")
        }
        guard sourceAddresses.rawAddress(forConnection: connections - 1) != nil else {
            throw .invalidConfiguration("127.0.0.0/8 has too few addresses for \(connections) connections")
        }
    }
}

/// The channel type simulated miners open.
public enum LoadTestChannelKind: String, Codable, Sendable, CaseIterable {
    /// `OpenStandardMiningChannel`, `SubmitSharesStandard` (header-only mining).
    case standard
    /// `OpenExtendedMiningChannel`, `SubmitSharesExtended` with a rolled extranonce (the pool rebuilds the coinbase).
    case extended
}
