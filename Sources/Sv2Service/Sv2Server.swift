public import Logging
public import Reactor
import Sv2Codec
import Sv2Noise

/// An Sv2 server: listens, runs the Noise handshake (optional), negotiates `SetupConnection` and hands every
/// message to the handler of the subprotocol the connection was set up for.
///
/// A thin state machine registered on an `EventLoop`; all methods must be called on that loop's thread (use
/// `eventLoop.execute {}` from elsewhere). Its last reference may be dropped on any thread: its connections reach it
/// through a lifeline rather than a weak reference, and a `deinit` that races a call from the loop waits for that call
/// to return. Handlers are stored inline (generic parameters, no existentials) and receive zero-copy views. Pass
/// `NullSv2…ServerHandler()` for subprotocols the server does not serve, or use the one-subprotocol initialisers, which
/// do it for you:
///
/// ```swift
/// let server = try Sv2Server(configuration: config, eventLoop: loop, mining: MyPool())
/// try server.start()
/// ```
public final class Sv2Server<
    Mining: Sv2MiningServerHandler,
    JobDeclaration: Sv2JobDeclarationServerHandler,
    TemplateDistribution: Sv2TemplateDistributionServerHandler
> {
    /// The loop the server runs on.
    public let eventLoop: EventLoop
    /// The configuration it was created with.
    public let configuration: Sv2ServerConfiguration
    /// The three handlers, and the routing of every message to the one the connection was set up for.
    /// ``mining``, ``jobDeclaration`` and ``templateDistribution`` (from ``Sv2HandlerOwner``) reach each one.
    public var handlers: Sv2Handlers<Mining, JobDeclaration, TemplateDistribution>
    /// Open connections and every way to send to them.
    public let connections: Sv2ServerConnections
    private var listener: Listener?
    private let metrics: Sv2ServiceMetrics
    private let admission: Sv2Admission
    /// Links whose act 1 waits for a later iteration's handshake budget (FIFO from `handshakeQueueHead`).
    private var handshakeQueue: [Sv2Link] = []
    private var handshakeQueueHead = 0
    private var handshakeDrainScheduled = false
    private var handshakeBudgetIteration: UInt64 = .max
    private var handshakesThisIteration = 0
    /// Computes act 2s off the loop thread (`handshakesOnWorkerThread`), or nil: they are answered on the loop
    /// within the per-iteration budget.
    private var handshakeWorker: HandshakeWorker?
    /// How connection handlers, timers and callbacks reach this server without a weak reference (see `Lifeline`);
    /// made on first use.
    private var lifelineStorage: Lifeline<Sv2Server>?
    private var lifeline: Lifeline<Sv2Server> {
        if let lifelineStorage { return lifelineStorage }
        let made = Lifeline(self)
        lifelineStorage = made
        return made
    }

    /// Creates a server; nothing happens until `start()`.
    public init(
        configuration: Sv2ServerConfiguration, eventLoop: EventLoop, mining: Mining, jobDeclaration: JobDeclaration,
        templateDistribution: TemplateDistribution, logger: Logger = Logger(label: "stratum.server")
    ) throws(Sv2ServiceError) {
        try configuration.validate()
        try Self.checkFrameFits(configuration.maxFramePayload, in: eventLoop)
        let handlers = Sv2Handlers(
            mining: mining, jobDeclaration: jobDeclaration, templateDistribution: templateDistribution)
        guard handlers.supportsAny else {
            throw .invalidConfiguration("a server needs at least one supported subprotocol")
        }
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.handlers = handlers
        connections = Sv2ServerConnections(
            eventLoop: eventLoop, logger: logger,
            logLimit: LogRateLimiter(
                linesPerInterval: configuration.hostileLogLinesPerInterval, interval: configuration.hostileLogInterval))
        admission = Sv2Admission(configuration: configuration)
        metrics = Sv2ServiceMetrics(
            prefix: "sv2_server", name: configuration.metricsName ?? Sv2ServiceMetrics.uniqueName())
        if let identity = configuration.noise, configuration.handshakesOnWorkerThread {
            handshakeWorker = HandshakeWorker(identity: identity, eventLoop: eventLoop, sink: lifeline)
        }
    }

    deinit {
        lifelineStorage?.ownerDeinitialising()
        handshakeWorker?.stop()
    }

    /// A whole frame (encrypted, at the configured maximum) must fit the loop's per-connection read buffer, because
    /// frames are parsed in place; otherwise the largest accepted frame could never be received.
    static func checkFrameFits(_ maxFramePayload: Int, in eventLoop: EventLoop) throws(Sv2ServiceError) {
        let needed = NoiseSession.encryptedSize(payloadLength: maxFramePayload)
        let available = eventLoop.configuration.maxReadBufferSize
        guard needed <= available else {
            throw .invalidConfiguration(
                "maxFramePayload \(maxFramePayload) needs \(needed) bytes of read buffer, but the event loop's "
                    + "maxReadBufferSize is \(available): lower one or raise the other")
        }
    }

    /// Starts listening. Loop thread only.
    public func start() throws(Sv2ServiceError) { try start(on: configuration.listenAddress) }

    /// Starts listening on `address` instead of ``Sv2ServerConfiguration/listenAddress``: a server joining, with
    /// ``Sv2ServerConfiguration/reusePort``, the port another loop's server bound when the configuration said port 0.
    /// Loop thread only.
    public func start(on address: SocketAddress) throws(Sv2ServiceError) {
        guard listener == nil else { return }
        do {
            listener = try eventLoop.listen(on: address, reusePort: configuration.reusePort) {
                [lifeline] connection in
                lifeline.withOwner { $0.accept(connection) } ?? nil
            }
        } catch {
            throw .transport(error)
        }
        // Through the lifeline, not a weak reference to the server or to `connections`: either would give that object
        // (retained for every read or reply) a side table.
        metrics.startExporting(on: eventLoop) { [lifeline] in
            lifeline.withOwner { $0.connections.statistics } ?? Sv2ServiceStatistics()
        }
        connections.logger.info("listening", metadata: [
            "address": "\(localAddress.map { "\($0)" } ?? "?")",
            "noise": "\(configuration.noise != nil)",
        ])
    }

    /// The bound address (useful with port 0), once started.
    public var localAddress: SocketAddress? { listener?.localAddress }

    /// Counters (connections, frames, errors).
    public var statistics: Sv2ServiceStatistics { connections.statistics }

    /// The `server` dimension of this server's metrics (``Sv2ServerConfiguration/metricsName`` or a unique name).
    public var metricsName: String { metrics.name }

    /// Exports the statistics to swift-metrics now (they are also exported once a second while listening), e.g.
    /// right before a scrape. Loop thread only.
    public func exportMetrics() { metrics.export(connections.statistics) }

    /// Stops reading from one client until ``resumeReading(_:)`` (see ``Sv2ServerConnections/pauseReading(_:)``).
    /// Returns false when it is not connected. Loop thread only.
    @discardableResult
    public func pauseReading(_ id: Sv2ConnectionID) -> Bool { connections.pauseReading(id) }

    /// Resumes reading from a client paused with ``pauseReading(_:)``. Returns false when it is not connected.
    /// Loop thread only.
    @discardableResult
    public func resumeReading(_ id: Sv2ConnectionID) -> Bool { connections.resumeReading(id) }

    /// Stops accepting and closes every connection (pending writes are flushed first).
    public func stop() {
        listener?.close()
        listener = nil
        handshakeWorker?.stop()
        metrics.stopExporting(on: eventLoop)
        for id in connections.ids { connections.close(id) }
    }

    /// Creates a client on this server's loop: the two are siblings and call each other directly (no channel, no
    /// copy, no thread hop) — e.g. a pool's Template Distribution client, or a proxy's upstream Mining client.
    public func makeSiblingClient<
        ClientMining: Sv2MiningClientHandler, ClientJobDeclaration: Sv2JobDeclarationClientHandler,
        ClientTemplateDistribution: Sv2TemplateDistributionClientHandler
    >(
        configuration: Sv2ClientConfiguration, mining: ClientMining, jobDeclaration: ClientJobDeclaration,
        templateDistribution: ClientTemplateDistribution, logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError) -> Sv2Client<ClientMining, ClientJobDeclaration, ClientTemplateDistribution> {
        try Sv2Client(
            configuration: configuration, eventLoop: eventLoop, mining: mining, jobDeclaration: jobDeclaration,
            templateDistribution: templateDistribution, logger: logger)
    }

    // MARK: Connection lifecycle

    /// Admission control, before any crypto: a refused connection costs an accept and a close.
    private func accept(_ connection: Connection) -> (any ConnectionHandler)? {
        let source = connection.remoteAddress.sourceKey
        let refusal: Sv2Admission.Refusal? =
            connections.links.count >= configuration.maxConnections
            ? .maxConnections : admission.admit(source, now: eventLoop.now)
        if let refusal {
            refuse(connection, refusal)
            return nil
        }
        let link = Sv2Link(
            connection: connection, phase: configuration.noise == nil ? .awaitingSetup : .noiseHandshake,
            maxFramePayload: configuration.maxFramePayload, now: eventLoop.now)
        link.handshakeInFlight = true
        connections.links[link.id] = link
        connections.statistics.connectionsOpened += 1
        // Timers name the link by id, never hold it weakly: a weak reference gives the link a side table, and every
        // retain of it on the share path would then take the runtime's slow path.
        link.handshakeTimer = eventLoop.schedule(after: configuration.handshakeTimeout) { [lifeline, id = link.id] in
            _ = lifeline.withOwner { server in
                guard let link = server.connections.link(id) else { return }
                link.handshakeTimer = nil
                if link.sv2Protocol == nil { server.connections.fail(link, .handshakeTimeout) }
            }
        }
        return ServerConnectionHandler(lifeline: lifeline, link: link)
    }

    private func refuse(_ connection: Connection, _ refusal: Sv2Admission.Refusal) {
        var statistics = connections.statistics
        statistics.connectionsRefused += 1
        switch refusal {
        case .maxConnections: statistics.refusedMaxConnections += 1
        case .handshakesInFlight: statistics.refusedHandshakesInFlight += 1
        case .sourceConnections: statistics.refusedSourceConnections += 1
        case .sourceRate: statistics.refusedSourceRate += 1
        }
        connections.statistics = statistics
        connections.warnAboutPeer(
            "refusing connection: \(refusal.rawValue)",
            metadata: ["remote": "\(connection.remoteAddress)", "refused": "\(refusal.rawValue)"])
    }

    /// The connection stops counting as a handshake in flight (set up, or closed before).
    private func endHandshake(_ link: Sv2Link) {
        guard link.handshakeInFlight else { return }
        link.handshakeInFlight = false
        admission.handshakeEnded()
    }

    fileprivate func closed(_ link: Sv2Link, reason: CloseReason) {
        // The reactor closes on its own when a buffer limit is hit; those are the peer's fault, so they are
        // logged and counted like any other protocol error instead of passing as an ordinary close.
        switch reason {
        case .readBufferOverflow: connections.fail(link, .receiveBufferOverflow)
        case .writeBufferOverflow: connections.fail(link, .writeBufferFull)
        default: break
        }
        if let timer = link.handshakeTimer { eventLoop.cancel(timer) }
        if let timer = link.inactivityTimer { eventLoop.cancel(timer) }
        if let timer = link.partialFrameTimer { eventLoop.cancel(timer) }
        let wasReady = link.setUpProtocol
        let closeReason: Sv2CloseReason =
            if let error = link.closeError { .error(error) }
            else if link.phase == .closing || reason == .closedLocally { .closedLocally }
            else { .peerClosed(reason) }
        link.phase = .closing
        link.queuedActOne = nil
        endHandshake(link)
        admission.released(link.connection.remoteAddress.sourceKey)
        connections.links[link.id] = nil
        for channel in link.channels where connections.channelOwners[channel] == link.id {
            connections.channelOwners[channel] = nil
        }
        connections.statistics.connectionsClosed += 1
        if let wasReady { handlers.connectionDidClose(wasReady, link.id, reason: closeReason) }
    }

    // MARK: Receiving

    fileprivate func received(_ bytes: UnsafeMutableRawBufferPointer, on link: Sv2Link) -> Int {
        link.lastActivity = eventLoop.now
        var offset = 0
        do throws(Sv2ServiceError) {
            while link.phase != .closing {
                if link.phase == .noiseHandshake {
                    if link.queuedActOne != nil {
                        // An initiator has no keys before act 2, so an honest one sends nothing until then. With the
                        // worker, anything early is refused (a replayed session, typically); on the loop, queued act
                        // 1s keep such bytes buffered and they fail authentication later.
                        if handshakeWorker != nil, offset < bytes.count { throw .noise(.outOfOrder) }
                        return offset
                    }
                    guard bytes.count - offset >= NoiseResponder.actOneSize else { return offset }
                    let actOne = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + NoiseResponder.actOneSize)])
                    offset += NoiseResponder.actOneSize
                    if let handshakeWorker {
                        // Marks the act 1 as taken (later bytes stay buffered) until the worker's answer arrives.
                        link.queuedActOne = []
                        handshakeWorker.submit(link.id, actOne: actOne)
                        connections.statistics.handshakesOffloaded += 1
                    } else if handshakeQueueHead == handshakeQueue.count, takeHandshakeBudget() {
                        try respondToActOne(actOne, on: link)
                    } else {
                        queueActOne(actOne, on: link)
                    }
                    continue
                }
                guard let frame = try link.nextFrame(bytes, offset: &offset) else {
                    trackPartialFrame(on: link, pending: offset < bytes.count || link.pendingHeader != nil)
                    return offset
                }
                connections.statistics.framesIn += 1
                link.partialFrameSince = nil
                try process(frame, on: link)
                // Paused by a handler (back-pressure): the following frames stay buffered until the resume.
                if link.connection.isReadingPaused { return offset }
            }
        } catch {
            connections.fail(link, error)
        }
        return bytes.count
    }

    /// A started frame must complete within `partialFrameTimeout`: each byte resets the inactivity clock, so without
    /// this a peer trickling one byte a second would hold its connection (and buffer) forever. The clock restarts with
    /// every completed frame (`received` clears `partialFrameSince`), so a peer whose reads always end mid-frame is
    /// closed only when one frame takes too long. One timer per connection, re-armed lazily like the inactivity timer.
    private func trackPartialFrame(on link: Sv2Link, pending: Bool) {
        guard pending else {
            link.partialFrameSince = nil
            return
        }
        guard link.partialFrameSince == nil else { return }
        link.partialFrameSince = eventLoop.now
        if link.partialFrameTimer == nil { armPartialFrameTimer(link, after: configuration.partialFrameTimeout) }
    }

    private func armPartialFrameTimer(_ link: Sv2Link, after delay: Duration) {
        link.partialFrameTimer = eventLoop.schedule(after: delay) { [lifeline, id = link.id] in
            _ = lifeline.withOwner { server in server.partialFrameTimerFired(id) }
        }
    }

    private func partialFrameTimerFired(_ id: Sv2ConnectionID) {
        guard let link = connections.link(id) else { return }
        link.partialFrameTimer = nil
        guard link.phase != .closing, let since = link.partialFrameSince else { return }
        let timeout = configuration.partialFrameTimeout
        let age = Duration.nanoseconds(Int64(truncatingIfNeeded: eventLoop.now &- since))
        if age >= timeout {
            connections.fail(link, .frameTimeout)
        } else {
            armPartialFrameTimer(link, after: timeout - age)
        }
    }

    /// One unit of the iteration's handshake budget (`maxHandshakesPerIteration`), if any is left.
    private func takeHandshakeBudget() -> Bool {
        if handshakeBudgetIteration != eventLoop.iteration {
            handshakeBudgetIteration = eventLoop.iteration
            handshakesThisIteration = 0
        }
        guard handshakesThisIteration < configuration.maxHandshakesPerIteration else { return false }
        handshakesThisIteration += 1
        return true
    }

    /// Keeps an act 1 for a later iteration (FIFO). The queue is bounded by `maxHandshakesInFlight`: every queued
    /// link is a handshake in flight.
    private func queueActOne(_ actOne: UnsafeRawBufferPointer, on link: Sv2Link) {
        link.queuedActOne = Array(actOne)
        handshakeQueue.append(link)
        connections.statistics.handshakesDeferred += 1
        scheduleHandshakeDrain()
    }

    private func scheduleHandshakeDrain() {
        guard !handshakeDrainScheduled else { return }
        handshakeDrainScheduled = true
        eventLoop.nextIteration { [lifeline] in _ = lifeline.withOwner { $0.drainHandshakeQueue() } }
    }

    /// Answers queued act 1s within this iteration's budget, oldest first; the rest wait for the next iteration.
    private func drainHandshakeQueue() {
        handshakeDrainScheduled = false
        while handshakeQueueHead < handshakeQueue.count {
            let link = handshakeQueue[handshakeQueueHead]
            // Links closed while waiting cost no budget.
            guard link.phase == .noiseHandshake, let actOne = link.queuedActOne else {
                handshakeQueueHead += 1
                continue
            }
            guard takeHandshakeBudget() else { break }
            handshakeQueueHead += 1
            link.queuedActOne = nil
            var failure: Sv2ServiceError?
            actOne.withUnsafeBytes { raw in
                do throws(Sv2ServiceError) { try respondToActOne(raw, on: link) } catch { failure = error }
            }
            if let failure { connections.fail(link, failure) }
        }
        if handshakeQueueHead == handshakeQueue.count {
            handshakeQueue.removeAll(keepingCapacity: handshakeQueue.count <= 1024)
            handshakeQueueHead = 0
        } else {
            if handshakeQueueHead >= 1024 && handshakeQueueHead * 2 >= handshakeQueue.count {
                handshakeQueue.removeFirst(handshakeQueueHead)
                handshakeQueueHead = 0
            }
            scheduleHandshakeDrain()
        }
    }

    /// Act 2s computed by the handshake worker: each is written to its connection, whose transport session starts;
    /// answers for connections closed meanwhile are dropped.
    func handshakesAnswered(_ answers: [HandshakeWorker.Answer]) {
        for answer in answers {
            guard let link = connections.links[answer.connection], link.phase == .noiseHandshake,
                  link.queuedActOne != nil
            else {
                connections.statistics.handshakeAnswersDropped += 1
                continue
            }
            link.queuedActOne = nil
            do throws(Sv2ServiceError) {
                let response: HandshakeWorker.Response
                switch answer.result {
                case .success(let value): response = value
                case .failure(let error): throw .noise(error)
                }
                try link.writeRaw(NoiseResponder.actTwoSize) { out in
                    withUnsafeBytes(of: response.actTwo) { out.copyMemory(from: $0) }
                }
                link.session = response.session.take()
                link.phase = .awaitingSetup
                connections.statistics.handshakesCompleted += 1
            } catch {
                connections.fail(link, error)
            }
        }
    }

    private func respondToActOne(_ actOne: UnsafeRawBufferPointer, on link: Sv2Link) throws(Sv2ServiceError) {
        guard let identity = configuration.noise else { return }
        var session: NoiseSession?
        try link.writeRaw(NoiseResponder.actTwoSize) { (out) throws(Sv2NoiseError) in
            var responder = try NoiseResponder(identity: identity)
            session = try responder.respond(toActOne: actOne, into: out)
        }
        link.session = session.take()
        link.phase = .awaitingSetup
        connections.statistics.handshakesCompleted += 1
    }

    @inline(__always)
    private func process(_ frame: Sv2Frame, on link: Sv2Link) throws(Sv2ServiceError) {
        guard let type = frame.header.knownMessageType else {
            throw .unknownMessage(extensionType: frame.header.extensionID, messageType: frame.header.messageType)
        }
        guard frame.header.isChannelMessage == type.isChannelMessage else { throw .channelBitMismatch(type) }
        guard case .ready(let sv2Protocol) = link.phase else {
            guard type == .setupConnection else { throw .setupRequired(type) }
            return try setUp(try decode(SetupConnectionView.self, frame.payload), on: link)
        }
        let call = connections.handlerCalls.begin()
        defer { connections.handlerCalls.end(call) }
        let context = Sv2ServerContext(link: link, connections: connections, call: call)
        switch type.group {
        case .common:
            throw type == .setupConnection ? .setupRepeated : .unexpectedMessage(type)
        case .extensionsNegotiation:
            guard type == .requestExtensions else { throw .unexpectedMessage(type) }
            try negotiateExtensions(try decode(RequestExtensionsView.self, frame.payload), context: context)
            return
        case .mining, .jobDeclaration, .templateDistribution:
            guard type.group.requiredProtocol == sv2Protocol else { throw .wrongProtocol(type, connection: sv2Protocol) }
        }
        if type.isChannelMessage {
            // Clients may only talk about channels the server opened for them.
            guard frame.payload.count >= 4 else { _ = try decode(UpdateChannelView.self, frame.payload); return }
            let channel = frame.payload.loadLittleEndianUInt32(at: 0)
            guard link.owns(channel) else { throw .unknownChannel(channel) }
        }
        try handlers.dispatch(sv2Protocol, type, payload: frame.payload, context: context)
        if type == .closeChannel {
            connections.unregister(frame.payload.loadLittleEndianUInt32(at: 0), on: link)
        }
    }

    // MARK: SetupConnection

    private func setUp(_ request: SetupConnectionView, on link: Sv2Link) throws(Sv2ServiceError) {
        guard let sv2Protocol = request.sv2Protocol, handlers.isSupported(sv2Protocol) else {
            return try refuse(link, code: Sv2SetupErrorCode.unsupportedProtocol, flags: 0,
                              detail: "protocol \(request.protocolID)")
        }
        guard request.minVersion <= configuration.maxVersion, request.maxVersion >= configuration.minVersion,
              request.minVersion <= request.maxVersion
        else {
            return try refuse(link, code: Sv2SetupErrorCode.protocolVersionMismatch, flags: 0,
                              detail: "versions \(request.minVersion)...\(request.maxVersion)")
        }
        let policy = configuration.setupPolicy(for: sv2Protocol)
        let unsupported = request.flags & ~policy.acceptedFlags
        guard unsupported == 0 else {
            return try refuse(link, code: Sv2SetupErrorCode.unsupportedFeatureFlags, flags: unsupported,
                              detail: "flags 0x\(String(request.flags, radix: 16))")
        }
        let usedVersion = min(request.maxVersion, configuration.maxVersion)
        try connections.send(SetupConnectionSuccess(usedVersion: usedVersion, flags: policy.successFlags), on: link)
        link.phase = .ready(sv2Protocol)
        link.setupFlags = request.flags
        endHandshake(link)
        connections.statistics.setupsAccepted += 1
        if let timer = link.handshakeTimer {
            eventLoop.cancel(timer)
            link.handshakeTimer = nil
        }
        armInactivityTimer(link, after: configuration.inactivityTimeout)
        let call = connections.handlerCalls.begin()
        defer { connections.handlerCalls.end(call) }
        let context = Sv2ServerContext(link: link, connections: connections, call: call)
        try handlers.connectionDidSetUp(sv2Protocol, context: context)
    }

    /// Answers SetupConnection.Error and closes after it is flushed (a refusal, not a protocol violation).
    private func refuse(_ link: Sv2Link, code: String, flags: UInt32, detail: String) throws(Sv2ServiceError) {
        try connections.send(SetupConnectionError(flags: flags, errorCode: code), on: link)
        connections.statistics.setupsRefused += 1
        connections.logger.info("setup refused: \(code) (\(detail))", metadata: ["connection": "\(link.id)"])
        link.closeError = .setupRefused(code: code, flags: flags)
        link.phase = .closing
        link.connection.close()
    }

    private func negotiateExtensions(_ request: RequestExtensionsView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let supported = request.requestedExtensions.filter { configuration.supportedExtensions.contains($0) }
        try context.send(RequestExtensionsSuccess(requestID: request.requestID, supportedExtensions: supported))
    }

    // MARK: Inactivity

    /// One timer per connection, re-armed lazily: activity only updates a timestamp, the timer checks it when it
    /// fires and sleeps for the remainder — O(1) per timeout period, nothing per frame.
    private func armInactivityTimer(_ link: Sv2Link, after delay: Duration) {
        link.inactivityTimer = eventLoop.schedule(after: delay) { [lifeline, id = link.id] in
            _ = lifeline.withOwner { server in server.inactivityTimerFired(id) }
        }
    }

    private func inactivityTimerFired(_ id: Sv2ConnectionID) {
        guard let link = connections.link(id) else { return }
        link.inactivityTimer = nil
        guard link.phase != .closing else { return }
        let timeout = configuration.inactivityTimeout
        let idle = Duration.nanoseconds(Int64(truncatingIfNeeded: eventLoop.now &- link.lastActivity))
        if idle >= timeout {
            connections.fail(link, .inactivityTimeout)
        } else {
            armInactivityTimer(link, after: timeout - idle)
        }
    }
}

/// Routes one connection's reactor events to its server.
private final class ServerConnectionHandler<
    Mining: Sv2MiningServerHandler, JobDeclaration: Sv2JobDeclarationServerHandler,
    TemplateDistribution: Sv2TemplateDistributionServerHandler
>: ConnectionHandler {
    let lifeline: Lifeline<Sv2Server<Mining, JobDeclaration, TemplateDistribution>>
    let link: Sv2Link

    init(lifeline: Lifeline<Sv2Server<Mining, JobDeclaration, TemplateDistribution>>, link: Sv2Link) {
        self.lifeline = lifeline
        self.link = link
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard let consumed = lifeline.withOwner({ [link] in $0.received(bytes, on: link) }) else {
            // The server was released without `stop()`: nothing may use it, so the connection goes.
            connection.abort()
            return bytes.count
        }
        return consumed
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        _ = lifeline.withOwner { [link] in $0.closed(link, reason: reason) }
    }
}

extension Sv2Server: HandshakeAnswerSink {}

extension Sv2Server: Sv2HandlerOwner {
    /// The server side's Null Mining handler.
    public typealias NullMining = NullSv2MiningServerHandler
    /// The server side's Null Job Declaration handler.
    public typealias NullJobDeclaration = NullSv2JobDeclarationServerHandler
    /// The server side's Null Template Distribution handler.
    public typealias NullTemplateDistribution = NullSv2TemplateDistributionServerHandler
    /// `stratum.server`.
    public static var defaultLoggerLabel: String { "stratum.server" }
}
