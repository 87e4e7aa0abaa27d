public import Reactor
public import Sv2Codec
public import Sv2Noise

/// Everything an `Sv2Client` needs besides its handlers.
public struct Sv2ClientConfiguration: Sendable {
    /// How the client secures its connection.
    public enum Security: Sendable, Equatable {
        /// Plain, unencrypted Sv2.
        case plain
        /// Noise NX; the server's certificate is verified against `authority` (`nil` skips the check, as SRI does
        /// when no key is configured — only for testing).
        case noise(authority: AuthorityPublicKey?)
    }

    /// The server to connect to.
    public var serverAddress: SocketAddress
    /// Local address to connect from (`nil`: the kernel's choice), e.g. one of 127.0.0.0/8 for load tests.
    public var localAddress: SocketAddress?
    /// The subprotocol this connection is for.
    public var sv2Protocol: Sv2Protocol
    /// Plain or Noise.
    public var security: Security
    /// Lowest acceptable protocol version.
    public var minVersion: UInt16 = 2
    /// Highest acceptable protocol version.
    public var maxVersion: UInt16 = 2
    /// SetupConnection flags (see `Sv2SetupFlags`).
    public var flags: UInt32 = 0
    /// `endpoint_host` sent in SetupConnection (defaults to the server's address).
    public var endpointHost: String
    /// `endpoint_port` sent in SetupConnection.
    public var endpointPort: UInt16
    /// `vendor`.
    public var vendor = "swift-stratum"
    /// `hardware_version`.
    public var hardwareVersion = ""
    /// `firmware`.
    public var firmware = "swift-stratum"
    /// `device_id`.
    public var deviceID = ""
    /// TCP connect timeout.
    public var connectTimeout: Duration = .seconds(10)
    /// Noise handshake plus SetupConnection must finish within this time.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Close if the server sends nothing for this long (`nil`: never).
    public var inactivityTimeout: Duration? = nil
    /// TCP keepalive on the connection, so a server that vanished (host down, route blackholed) is noticed even
    /// when the protocol has no traffic to wait for (`nil`: the kernel's defaults, i.e. hours).
    public var tcpKeepAlive: TCPKeepAlive? = TCPKeepAlive()
    /// Largest accepted frame payload; a whole encrypted frame of this size must fit the event loop's
    /// `maxReadBufferSize` (checked when the client is created).
    public var maxFramePayload = 512 << 10

    /// Creates a configuration.
    public init(serverAddress: SocketAddress, sv2Protocol: Sv2Protocol, security: Security) {
        self.serverAddress = serverAddress
        self.sv2Protocol = sv2Protocol
        self.security = security
        endpointHost = serverAddress.ip
        endpointPort = serverAddress.port
    }

    /// Checks the values are usable.
    public func validate() throws(Sv2ServiceError) {
        guard minVersion <= maxVersion else { throw .invalidConfiguration("minVersion > maxVersion") }
        guard maxFramePayload >= 64, maxFramePayload <= 0xFF_FFFF else {
            throw .invalidConfiguration("maxFramePayload must be within 64...16777215")
        }
        for (name, value) in [("endpointHost", endpointHost), ("vendor", vendor), ("hardwareVersion", hardwareVersion),
                              ("firmware", firmware), ("deviceID", deviceID)] where value.utf8.count > 255 {
            throw .invalidConfiguration("\(name) is longer than 255 bytes")
        }
    }

    /// The SetupConnection this client sends.
    public var setupConnection: SetupConnection {
        SetupConnection(
            protocolID: sv2Protocol.rawValue, minVersion: minVersion, maxVersion: maxVersion, flags: flags,
            endpointHost: endpointHost, endpointPort: endpointPort, vendor: vendor, hardwareVersion: hardwareVersion,
            firmware: firmware, deviceID: deviceID)
    }
}
