public import Logging
public import Reactor
public import Sv2Codec

/// The open connections of one `Sv2Server`, and every way to send to them. Loop thread only.
///
/// Handlers reach it through `Sv2ServerContext.connections`; sibling services and applications through
/// `Sv2Server.connections`.
public final class Sv2ServerConnections {
    /// The loop all connections run on.
    public let eventLoop: EventLoop
    /// The service's logger (`connection` metadata is added per line).
    public let logger: Logger
    var links: [Sv2ConnectionID: Sv2Link] = [:]
    var channelOwners: [UInt32: Sv2ConnectionID] = [:]
    /// The service's counters.
    // Unchecked exclusivity: bumped for every frame on the loop thread, never accessed across a call that could
    // reach it again (a dynamic check per bump showed in profiles).
    @exclusivity(unchecked) public internal(set) var statistics = Sv2ServiceStatistics()
    /// Called (loop thread) for every connection closed because of an error, after it was logged and counted —
    /// e.g. to ban an address that keeps sending garbage.
    public var errorObserver: ((Sv2ConnectionID, Sv2ServiceError) -> Void)?
    /// The handler call now running, which the contexts check (see `Sv2HandlerCalls`).
    let handlerCalls = Sv2HandlerCalls()
    /// Limits warnings about closed and refused connections (peers control how many there are).
    private let warnings: PeerWarnings

    init(eventLoop: EventLoop, logger: Logger,
         logLimit: LogRateLimiter = LogRateLimiter(linesPerInterval: 20, interval: .seconds(1))) {
        self.eventLoop = eventLoop
        self.logger = logger
        warnings = PeerWarnings(limiter: logLimit)
    }

    deinit { handlerCalls.release() }

    /// Logs a warning caused by a peer, unless the rate limit is reached; suppressed lines are counted and summed up
    /// in one "suppressed N" warning (metadata `suppressed`) when the limiter's window ends.
    func warnAboutPeer(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata) {
        let now = eventLoop.now
        if warnings.limiter.admit(now: now) {
            logger.warning(message(), metadata: metadata())
            return
        }
        statistics.logLinesSuppressed += 1
        guard !warnings.summaryScheduled else { return }
        warnings.summaryScheduled = true
        let delay = warnings.limiter.nanosecondsUntilWindowEnds(now: now)
        // The timer holds the small limiter state weakly, not `self`: a weak reference to the connections object
        // (retained for every reply) would give it a side table and put every retain on the runtime's slow path.
        eventLoop.schedule(after: .nanoseconds(Int64(clamping: delay))) { [weak warnings, logger] in
            guard let warnings else { return }
            warnings.summaryScheduled = false
            let suppressed = warnings.limiter.takeSuppressed()
            if suppressed > 0 {
                logger.warning(
                    "suppressed \(suppressed) warnings about closed or refused connections (log rate limit)",
                    metadata: ["suppressed": "\(suppressed)"])
            }
        }
    }

    /// Ids of the open connections (any phase).
    public var ids: [Sv2ConnectionID] { Array(links.keys) }

    /// Number of open connections.
    public var count: Int { links.count }

    /// Ids of connections set up for `sv2Protocol`.
    public func ids(for sv2Protocol: Sv2Protocol) -> [Sv2ConnectionID] {
        links.values.filter { $0.sv2Protocol == sv2Protocol }.map(\.id)
    }

    /// The connection that owns `channelID`, if any.
    public func owner(ofChannel channelID: UInt32) -> Sv2ConnectionID? { channelOwners[channelID] }

    /// Sends `message` to one client.
    public func send<M: Sv2Message>(_ message: M, to id: Sv2ConnectionID) throws(Sv2ServiceError) {
        guard let link = link(id) else { throw .notConnected }
        try send(message, on: link)
    }

    /// Sends a channel message to the client that owns its channel.
    public func sendToChannelOwner<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        guard let channel = message.messageChannelID, let owner = channelOwners[channel], let link = link(owner) else {
            throw .notConnected
        }
        try send(message, on: link)
    }

    /// Sends `message` to every client set up for `sv2Protocol` (all set-up clients when `nil`); with
    /// `onlyWithChannels`, only to clients that own at least one channel. Returns how many were sent; clients whose
    /// write buffer is full are closed (they stopped reading) and not counted.
    @discardableResult
    public func broadcast<M: Sv2Message>(
        _ message: M, to sv2Protocol: Sv2Protocol? = nil, onlyWithChannels: Bool = false
    ) -> Int {
        var sent = 0
        for link in links.values {
            guard let linkProtocol = link.sv2Protocol else { continue }
            if let sv2Protocol, linkProtocol != sv2Protocol { continue }
            if onlyWithChannels && link.channels.isEmpty { continue }
            do throws(Sv2ServiceError) {
                try send(message, on: link)
                sent += 1
            } catch {
                fail(link, error)
            }
        }
        return sent
    }

    /// Closes one connection (pending writes are flushed first, bounded by the loop's close deadline).
    public func close(_ id: Sv2ConnectionID) {
        guard let link = link(id) else { return }
        link.phase = .closing
        link.connection.close()
    }

    /// Stops reading from one client (back-pressure: e.g. while a store behind the handlers catches up). Its frames
    /// stay in the kernel and TCP slows it down; no frame after the one being handled is dispatched until
    /// ``resumeReading(_:)``, and none is lost. Sending to it and closing it work as usual. While paused the server
    /// does not see the client close (it notices on resume) and the inactivity timeout keeps running: pause for
    /// shorter than `inactivityTimeout`. Returns false when the client is not connected.
    @discardableResult
    public func pauseReading(_ id: Sv2ConnectionID) -> Bool {
        guard let link = link(id) else { return false }
        eventLoop.pauseReading(link.connection)
        return true
    }

    /// Resumes reading from a client paused with ``pauseReading(_:)``: frames that arrived meanwhile are handled in
    /// this loop iteration (not from inside this call). Returns false when the client is not connected.
    @discardableResult
    public func resumeReading(_ id: Sv2ConnectionID) -> Bool {
        guard let link = link(id) else { return false }
        eventLoop.resumeReading(link.connection)
        return true
    }

    /// Whether reading from the client is paused (nil when it is not connected).
    public func isReadingPaused(_ id: Sv2ConnectionID) -> Bool? { link(id)?.connection.isReadingPaused }

    func link(_ id: Sv2ConnectionID) -> Sv2Link? { links[id] }

    func send<M: Sv2Message>(_ message: M, on link: Sv2Link) throws(Sv2ServiceError) {
        do { try link.send(message) } catch {
            // The reactor already closed a connection whose write queue overflowed; account for it here, whoever sent.
            if case .writeBufferFull = error { fail(link, error) }
            throw error
        }
        statistics.framesOut += 1
        trackChannels(of: message, on: link)
    }

    /// Channel ownership follows what the server tells the client (see `Sv2ServerContext.send`).
    func trackChannels<M: Sv2Message>(of message: M, on link: Sv2Link) {
        switch M.messageType {
        case .openStandardMiningChannelSuccess:
            if let success = message as? OpenStandardMiningChannelSuccess { register(success.channelID, on: link) }
        case .openExtendedMiningChannelSuccess:
            if let success = message as? OpenExtendedMiningChannelSuccess { register(success.channelID, on: link) }
        case .setGroupChannel:
            if let group = message as? SetGroupChannel { registerGroup(group.groupChannelID, members: group.channelIDs, on: link) }
        case .closeChannel:
            if let close = message as? CloseChannel { unregister(close.channelID, on: link) }
        default:
            break
        }
    }

    func register(_ channelID: UInt32, on link: Sv2Link) {
        link.channels.insert(channelID)
        channelOwners[channelID] = link.id
    }

    /// A group id is a channel id of the connection (so the client may close it); `members` join the group and
    /// leave any other group of the connection (SetGroupChannel associates channels, it need not list them all).
    func registerGroup(_ groupID: UInt32, members: [UInt32], on link: Sv2Link) {
        register(groupID, on: link)
        for key in link.groups.keys where key != groupID { link.groups[key]!.subtract(members) }
        link.groups[groupID, default: []].formUnion(members)
    }

    /// Forgets a channel; a group id takes its members with it (CloseChannel on a group closes all its members).
    func unregister(_ channelID: UInt32, on link: Sv2Link) {
        link.channels.remove(channelID)
        if channelOwners[channelID] == link.id { channelOwners[channelID] = nil }
        guard !link.groups.isEmpty else { return }
        if let members = link.groups.removeValue(forKey: channelID) {
            for member in members { unregister(member, on: link) }
        } else {
            for key in link.groups.keys { link.groups[key]!.remove(channelID) }
        }
    }

    /// Logs, counts and closes a connection that broke the protocol.
    func fail(_ link: Sv2Link, _ error: Sv2ServiceError) {
        guard link.phase != .closing else { return }
        let inHandshake = link.sv2Protocol == nil
        statistics.errors += 1
        statistics.errorCounts[error.metricLabel, default: 0] += 1
        switch error {
        case .handshakeTimeout: statistics.handshakeFailures += 1
        case .noise: if inHandshake { statistics.handshakeFailures += 1 }
        case .inactivityTimeout: statistics.inactivityTimeouts += 1
        case .malformedMessage, .frameTooLarge, .unknownMessage, .channelBitMismatch, .unexpectedMessage, .setupRequired,
             .setupRepeated, .wrongProtocol, .unknownChannel, .rejected:
            statistics.rejectedFrames += 1
            if inHandshake { statistics.handshakeFailures += 1 }
        default: break
        }
        warnAboutPeer(
            "closing connection: \(error)",
            metadata: ["connection": "\(link.id)", "remote": "\(link.connection.remoteAddress)", "error": "\(error.metricLabel)"])
        link.closeError = error
        link.phase = .closing
        if case .writeBufferFull = error { link.connection.abort() } else { link.connection.close() }
        errorObserver?(link.id, error)
    }
}

/// The rate limit on peer-caused warnings and whether its summary line is scheduled (a class so the summary timer
/// can hold it weakly).
private final class PeerWarnings {
    var limiter: LogRateLimiter
    var summaryScheduled = false

    init(limiter: LogRateLimiter) { self.limiter = limiter }
}
