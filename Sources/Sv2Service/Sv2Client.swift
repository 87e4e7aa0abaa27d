public import Logging
public import Reactor
public import Sv2Codec
import Sv2Noise

/// State shared by a client and its contexts (non-generic, so contexts are one concrete type).
public final class Sv2ClientCore {
    /// The loop the client runs on.
    public let eventLoop: EventLoop
    /// The client's counters.
    public internal(set) var statistics = Sv2ServiceStatistics()
    /// The handler call now running, which the contexts check (see `Sv2HandlerCalls`).
    let handlerCalls = Sv2HandlerCalls()

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    deinit { handlerCalls.release() }
}

/// An Sv2 client: connects to one server, runs the Noise handshake (optional), sends `SetupConnection` for its
/// configured subprotocol and hands every message from the server to that subprotocol's handler.
///
/// Loop thread only (use `eventLoop.execute {}` from elsewhere). Its last reference may be dropped on any thread: its
/// connection reaches it through a lifeline rather than a weak reference, and a `deinit` that races a call from the
/// loop waits for that call to return. Handlers are stored inline and receive zero-copy views; the handler for the
/// configured subprotocol must be a real one (not Null). The one-subprotocol initialisers pass the Null handler for the
/// other two:
///
/// ```swift
/// let client = try Sv2Client(configuration: config, eventLoop: loop, mining: MyMiner())
/// client.connect()
/// ```
public final class Sv2Client<
    Mining: Sv2MiningClientHandler,
    JobDeclaration: Sv2JobDeclarationClientHandler,
    TemplateDistribution: Sv2TemplateDistributionClientHandler
> {
    /// The loop the client runs on.
    public var eventLoop: EventLoop { core.eventLoop }
    /// The configuration it was created with.
    public let configuration: Sv2ClientConfiguration
    /// The three handlers, and the routing of every message to the configured subprotocol's.
    /// ``mining``, ``jobDeclaration`` and ``templateDistribution`` (from ``Sv2HandlerOwner``) reach each one.
    public var handlers: Sv2Handlers<Mining, JobDeclaration, TemplateDistribution>
    /// Called on every state change (loop thread).
    public var onStateChange: ((Sv2ClientState) -> Void)?
    /// Called when the server sends `Reconnect`, with where to go (an empty host or zero port in the message mean
    /// the current one). `nil`: the request is only logged. ``Sv2Failover/drive(_:onState:)`` sets it. The new
    /// server must prove the same authority key (the client's security is unchanged), so a redirect cannot lead a
    /// Noise client to an impostor.
    public var onReconnectRequest: ((Endpoint) -> Void)?
    /// Where the client is.
    public private(set) var state = Sv2ClientState.idle {
        didSet { onStateChange?(state) }
    }
    let core: Sv2ClientCore
    private let logger: Logger
    private var link: Sv2Link?
    private var initiator: NoiseInitiator?
    private var handshakeTimer: TimerHandle?
    private var inactivityTimer: TimerHandle?
    private var targetAddress: SocketAddress?
    private var targetEndpoint: Endpoint?
    /// How the connection handler reaches this client without a weak reference (see `Lifeline`); made on first use.
    private var lifelineStorage: Lifeline<Sv2Client>?
    var lifeline: Lifeline<Sv2Client> {
        if let lifelineStorage { return lifelineStorage }
        let made = Lifeline(self)
        lifelineStorage = made
        return made
    }

    /// Creates a client; nothing happens until `connect()`.
    public init(
        configuration: Sv2ClientConfiguration, eventLoop: EventLoop, mining: Mining, jobDeclaration: JobDeclaration,
        templateDistribution: TemplateDistribution, logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError) {
        try configuration.validate()
        try Sv2Server<NullSv2MiningServerHandler, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
            .checkFrameFits(configuration.maxFramePayload, in: eventLoop)
        let handlers = Sv2Handlers(
            mining: mining, jobDeclaration: jobDeclaration, templateDistribution: templateDistribution)
        guard handlers.isSupported(configuration.sv2Protocol) else {
            throw .invalidConfiguration("the \(configuration.sv2Protocol) handler of this client is the Null handler")
        }
        self.configuration = configuration
        self.handlers = handlers
        self.logger = logger
        core = Sv2ClientCore(eventLoop: eventLoop)
    }

    deinit { lifelineStorage?.ownerDeinitialising() }

    /// Counters (frames, errors).
    public var statistics: Sv2ServiceStatistics { core.statistics }

    /// Whether SetupConnection succeeded and the connection is open.
    public var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// The connection id while connected.
    public var connectionID: Sv2ConnectionID? { link?.id }

    /// The server of the current or last connection: ``connect(to:endpoint:)``'s address, else the configuration's.
    public var serverAddress: SocketAddress { targetAddress ?? configuration.serverAddress }

    /// Connects to `address` instead of the configured server (failover, `Reconnect`); later ``connect()`` calls
    /// keep using it. Loop thread only.
    ///
    /// `endpoint`, when given, is what SetupConnection announces as `endpoint_host`/`endpoint_port` (the name the
    /// operator configured, not the resolved IP).
    public func connect(to address: SocketAddress, endpoint: Endpoint? = nil) {
        targetAddress = address
        if let endpoint { targetEndpoint = endpoint }
        connect()
    }

    /// Connects, handshakes and sets up. Loop thread only; progress is reported through `state`.
    public func connect() {
        switch state {
        case .idle, .closed: break
        default: return
        }
        state = .connecting
        eventLoop.connect(
            to: serverAddress, from: configuration.localAddress, timeout: configuration.connectTimeout,
            handler: ClientConnectionHandler(lifeline: lifeline)
        ) { [lifeline] result in
            // The lifeline, not a weak self: see `Lifeline` (a weak reference gives the client a side table).
            _ = lifeline.withOwner { client in
                switch result {
                case .success(let connection): client.connected(connection)
                case .failure(let error):
                    client.logger.warning("connect to \(client.serverAddress) failed: \(error)")
                    client.state = .closed(.error(.transport(error)))
                }
            }
        }
    }

    /// Sends a message to the server; throws `.notConnected` before setup completed.
    public func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        guard isReady, let link = currentLink else { throw .notConnected }
        try link.send(message)
        core.statistics.framesOut += 1
    }

    var currentLink: Sv2Link? { link }

    /// Bytes queued for the server but not yet handed to the kernel (0 when not connected). A sender that can
    /// produce faster than the link drains (a CPU miner's shares) checks it to shed load before the write buffer
    /// overflows, which would close the connection.
    public var pendingWriteBytes: Int { link?.connection.pendingWriteBytes ?? 0 }

    /// Closes the connection (pending writes are flushed first).
    public func close() {
        guard let link, link.phase != .closing else { return }
        link.phase = .closing
        link.connection.close()
    }

    // MARK: Lifecycle

    private func connected(_ connection: Connection) {
        if let keepAlive = configuration.tcpKeepAlive {
            do throws(ReactorError) { try connection.setKeepAlive(keepAlive) } catch {
                logger.warning("TCP keepalive not set on the link to \(serverAddress): \(error)")
            }
        }
        let link = Sv2Link(
            connection: connection, phase: .awaitingSetup, maxFramePayload: configuration.maxFramePayload,
            now: eventLoop.now)
        self.link = link
        core.statistics.connectionsOpened += 1
        handshakeTimer = eventLoop.schedule(after: configuration.handshakeTimeout) { [lifeline] in
            _ = lifeline.withOwner { client in
                guard let link = client.link else { return }
                client.handshakeTimer = nil
                if !client.isReady { client.fail(link, .handshakeTimeout) }
            }
        }
        do throws(Sv2ServiceError) {
            if case .noise(let authority) = configuration.security {
                link.phase = .noiseHandshake
                state = .handshaking
                var initiator: NoiseInitiator
                do { initiator = try NoiseInitiator(authorityKey: authority) } catch { throw .noise(error) }
                try link.writeRaw(NoiseInitiator.actOneSize) { (out) throws(Sv2NoiseError) in
                    try initiator.writeActOne(into: out)
                }
                self.initiator = initiator
            } else {
                try sendSetup(on: link)
            }
        } catch {
            fail(link, error)
        }
    }

    private func sendSetup(on link: Sv2Link) throws(Sv2ServiceError) {
        link.phase = .awaitingSetup
        state = .settingUp
        var setup = configuration.setupConnection
        if let targetEndpoint, targetEndpoint.host.utf8.count <= 255 {
            setup.endpointHost = targetEndpoint.host
            setup.endpointPort = targetEndpoint.port
        }
        try link.send(setup)
        core.statistics.framesOut += 1
    }

    fileprivate func closed(reason: CloseReason) {
        guard let link else { return }
        switch reason {
        case .readBufferOverflow: fail(link, .receiveBufferOverflow)
        case .writeBufferOverflow: fail(link, .writeBufferFull)
        default: break
        }
        for timer in [handshakeTimer, inactivityTimer].compactMap({ $0 }) { eventLoop.cancel(timer) }
        handshakeTimer = nil
        inactivityTimer = nil
        let wasReady = isReady
        let closeReason: Sv2CloseReason =
            if let error = link.closeError { .error(error) }
            else if link.phase == .closing || reason == .closedLocally { .closedLocally }
            else { .peerClosed(reason) }
        link.phase = .closing
        self.link = nil
        initiator = nil
        core.statistics.connectionsClosed += 1
        if wasReady { handlers.connectionDidClose(configuration.sv2Protocol, link.id, reason: closeReason) }
        state = .closed(closeReason)
    }

    private func fail(_ link: Sv2Link, _ error: Sv2ServiceError) {
        guard link.phase != .closing else { return }
        core.statistics.errors += 1
        core.statistics.errorCounts[error.metricLabel, default: 0] += 1
        if !isReady { core.statistics.handshakeFailures += 1 }
        if case .inactivityTimeout = error { core.statistics.inactivityTimeouts += 1 }
        logger.warning("closing connection: \(error)", metadata: ["connection": "\(link.id)", "server": "\(serverAddress)"])
        link.closeError = error
        link.phase = .closing
        if case .writeBufferFull = error { link.connection.abort() } else { link.connection.close() }
    }

    // MARK: Receiving

    fileprivate func received(_ bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard let link else { return bytes.count }
        link.lastActivity = eventLoop.now
        var offset = 0
        do throws(Sv2ServiceError) {
            while link.phase != .closing {
                if link.phase == .noiseHandshake {
                    guard bytes.count - offset >= NoiseInitiator.actTwoSize else { return offset }
                    let actTwo = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + NoiseInitiator.actTwoSize)])
                    offset += NoiseInitiator.actTwoSize
                    guard var initiator = initiator.take() else { throw .noise(.outOfOrder) }
                    do { link.session = try initiator.readActTwo(actTwo) } catch { throw .noise(error) }
                    core.statistics.handshakesCompleted += 1
                    try sendSetup(on: link)
                    continue
                }
                guard let frame = try link.nextFrame(bytes, offset: &offset) else { return offset }
                core.statistics.framesIn += 1
                try process(frame, on: link)
            }
        } catch {
            fail(link, error)
        }
        return bytes.count
    }

    @inline(__always)
    private func process(_ frame: Sv2Frame, on link: Sv2Link) throws(Sv2ServiceError) {
        guard let type = frame.header.knownMessageType else {
            throw .unknownMessage(extensionType: frame.header.extensionID, messageType: frame.header.messageType)
        }
        guard frame.header.isChannelMessage == type.isChannelMessage else { throw .channelBitMismatch(type) }
        guard case .ready(let sv2Protocol) = link.phase else {
            switch type {
            case .setupConnectionSuccess:
                let success = try decode(SetupConnectionSuccessView.self, frame.payload)
                return try setUpSucceeded(version: success.usedVersion, flags: success.flags, on: link)
            case .setupConnectionError:
                let error = try decode(SetupConnectionErrorView.self, frame.payload)
                throw .setupRefused(code: String(decoding: error.errorCode, as: UTF8.self), flags: error.flags)
            default:
                throw .setupRequired(type)
            }
        }
        let call = core.handlerCalls.begin()
        defer { core.handlerCalls.end(call) }
        let context = Sv2ClientContext(link: link, core: core, call: call)
        switch type.group {
        case .common:
            if type == .reconnect {
                let reconnect = try decode(ReconnectView.self, frame.payload)
                let host = String(decoding: reconnect.newHost, as: UTF8.self)
                let current = targetEndpoint ?? Endpoint(serverAddress)
                let target = Endpoint(
                    host: host.isEmpty ? current.host : host, port: reconnect.newPort == 0 ? current.port : reconnect.newPort)
                logger.notice("server asked to reconnect to \(target)")
                if let onReconnectRequest {
                    onReconnectRequest(target)
                    return
                }
            }
            guard sv2Protocol == .mining, type == .reconnect || type == .channelEndpointChanged else {
                if type == .reconnect { return }
                throw .unexpectedMessage(type)
            }
        case .extensionsNegotiation:
            // Answers to a RequestExtensions the application sent; nothing to route yet.
            return
        case .mining, .jobDeclaration, .templateDistribution:
            guard type.group.requiredProtocol == sv2Protocol else { throw .wrongProtocol(type, connection: sv2Protocol) }
        }
        try handlers.dispatch(sv2Protocol, type, payload: frame.payload, context: context)
    }

    private func setUpSucceeded(version: UInt16, flags: UInt32, on link: Sv2Link) throws(Sv2ServiceError) {
        guard version >= configuration.minVersion, version <= configuration.maxVersion else {
            throw .setupRefused(code: Sv2SetupErrorCode.protocolVersionMismatch, flags: 0)
        }
        link.phase = .ready(configuration.sv2Protocol)
        link.setupFlags = flags
        core.statistics.setupsAccepted += 1
        if let timer = handshakeTimer {
            eventLoop.cancel(timer)
            handshakeTimer = nil
        }
        if let timeout = configuration.inactivityTimeout { armInactivityTimer(after: timeout) }
        state = .ready(usedVersion: version, flags: flags)
        let call = core.handlerCalls.begin()
        defer { core.handlerCalls.end(call) }
        let context = Sv2ClientContext(link: link, core: core, call: call)
        try handlers.connectionDidSetUp(configuration.sv2Protocol, context: context)
    }

    private func armInactivityTimer(after delay: Duration) {
        inactivityTimer = eventLoop.schedule(after: delay) { [lifeline] in
            _ = lifeline.withOwner { client in
                guard let link = client.link, let timeout = client.configuration.inactivityTimeout else { return }
                client.inactivityTimer = nil
                let idle = Duration.nanoseconds(Int64(truncatingIfNeeded: client.eventLoop.now &- link.lastActivity))
                if idle >= timeout {
                    client.fail(link, .inactivityTimeout)
                } else {
                    client.armInactivityTimer(after: timeout - idle)
                }
            }
        }
    }
}

/// Routes the client connection's reactor events to its client.
private final class ClientConnectionHandler<
    Mining: Sv2MiningClientHandler, JobDeclaration: Sv2JobDeclarationClientHandler,
    TemplateDistribution: Sv2TemplateDistributionClientHandler
>: ConnectionHandler {
    // Not weak: see `Lifeline` (a weak reference cost every read a side-table retain and release).
    let lifeline: Lifeline<Sv2Client<Mining, JobDeclaration, TemplateDistribution>>

    init(lifeline: Lifeline<Sv2Client<Mining, JobDeclaration, TemplateDistribution>>) { self.lifeline = lifeline }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        lifeline.withOwner { $0.received(bytes) } ?? bytes.count
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        _ = lifeline.withOwner { $0.closed(reason: reason) }
    }
}

extension Sv2Client: Sv2HandlerOwner {
    /// The client side's Null Mining handler.
    public typealias NullMining = NullSv2MiningClientHandler
    /// The client side's Null Job Declaration handler.
    public typealias NullJobDeclaration = NullSv2JobDeclarationClientHandler
    /// The client side's Null Template Distribution handler.
    public typealias NullTemplateDistribution = NullSv2TemplateDistributionClientHandler
    /// `stratum.client`.
    public static var defaultLoggerLabel: String { "stratum.client" }
}
