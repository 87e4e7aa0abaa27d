public import Logging
public import Reactor

/// Keeps one client link up over an ordered list of upstreams. Loop thread only.
///
/// - Resolves each upstream's host name off the loop thread (`HostResolver`), again on every attempt.
/// - On a failed attempt it tries the next upstream after ``ReconnectPolicy/initialDelay``; after a whole round
///   without success it backs off exponentially (with jitter) before the next round, which starts with the first.
/// - When a link that was up goes down, it reconnects starting with the first upstream.
/// - While up on a fallback upstream it probes the first one every ``ReconnectPolicy/primaryRetryInterval`` with a
///   plain TCP connect, and when that succeeds asks the role to move back (``onSwitchToPrimary``).
/// - ``redirect(to:)`` follows a server's `Reconnect`: the next attempt goes there, then the list as usual.
///
/// The role owns the actual client: ``connect`` is called with the address to connect to; the role reports
/// ``linkUp()`` when its link is set up and ``linkDown()`` when a connect failed or the link closed.
public final class Sv2Failover {
    /// The upstreams, in order of preference.
    public let endpoints: [Endpoint]
    /// Backoff and probing.
    public let policy: ReconnectPolicy
    /// The loop everything runs on.
    public let eventLoop: EventLoop
    /// Connect the role's client to this address (of this endpoint).
    public var connect: ((SocketAddress, Endpoint) -> Void)?
    /// The first upstream answers again while the link is up on another: close the link (then ``linkDown()``).
    public var onSwitchToPrimary: (() -> Void)?
    /// The upstream of the current or last attempt.
    public private(set) var current: Endpoint?
    /// Whether the link is up.
    public private(set) var isUp = false
    /// Attempts made (connects started), for tests and status lines.
    public private(set) var attempts = 0
    /// Random numbers in 0..<1 for jitter (injectable for tests).
    public var random: () -> Double = { Double.random(in: 0..<1) }

    private let resolver: HostResolver
    private let logger: Logger
    private var index = 0
    private var failedRounds = 0
    private var failuresThisRound = 0
    private var redirectTarget: Endpoint?
    private var retryTimer: TimerHandle?
    private var probeTimer: TimerHandle?
    private var stopped = true
    private var generation = 0

    /// Creates the orchestrator; nothing happens until ``start()``.
    public init(
        endpoints: [Endpoint], policy: ReconnectPolicy = ReconnectPolicy(), eventLoop: EventLoop,
        resolver: HostResolver = .shared, logger: Logger = Logger(label: "stratum.failover")
    ) throws(Sv2ServiceError) {
        guard !endpoints.isEmpty else { throw .invalidConfiguration("no upstream to connect to") }
        self.endpoints = endpoints
        self.policy = policy
        self.eventLoop = eventLoop
        self.resolver = resolver
        self.logger = logger
    }

    /// Starts with the first upstream.
    public func start() {
        guard stopped else { return }
        stopped = false
        index = 0
        failedRounds = 0
        failuresThisRound = 0
        attempt()
    }

    /// Stops reconnecting (the role closes its link itself).
    public func stop() {
        stopped = true
        generation += 1
        cancelTimers()
    }

    /// The role's link is set up.
    public func linkUp() {
        guard !stopped else { return }
        isUp = true
        failedRounds = 0
        failuresThisRound = 0
        if index != 0 { scheduleProbe() }
    }

    /// A connect failed, or the link closed. Schedules the next attempt.
    public func linkDown() {
        guard !stopped else { return }
        cancelTimers()
        generation += 1
        let wasUp = isUp
        isUp = false
        if redirectTarget != nil {
            schedule(after: .zero)
            return
        }
        if wasUp {
            // A working link broke: start over from the most preferred upstream, soon.
            index = 0
            failuresThisRound = 0
            schedule(after: policy.jittered(policy.initialDelay, random: random()))
            return
        }
        failuresThisRound += 1
        index = (index + 1) % endpoints.count
        if failuresThisRound >= endpoints.count {
            // A whole round failed: back off before the next, which starts with the first upstream.
            failuresThisRound = 0
            index = 0
            let delay = policy.jittered(policy.baseDelay(afterFailedRounds: failedRounds), random: random())
            failedRounds += 1
            logger.warning("no upstream reachable (\(endpoints.map(\.description).joined(separator: ", "))); retrying in \(delay)")
            schedule(after: delay)
        } else {
            schedule(after: policy.jittered(policy.initialDelay, random: random()))
        }
    }

    /// Follows a `Reconnect` (or `ChannelEndpointChanged`-style) instruction: the next attempt goes to `endpoint`.
    /// The role closes its link after calling this.
    public func redirect(to endpoint: Endpoint) {
        redirectTarget = endpoint
    }

    private func schedule(after delay: Duration) {
        let expected = generation
        retryTimer = eventLoop.schedule(after: delay) { [weak self] in
            guard let self, !self.stopped, self.generation == expected else { return }
            self.retryTimer = nil
            self.attempt()
        }
    }

    private func attempt() {
        let endpoint: Endpoint
        if let target = redirectTarget {
            endpoint = target
            redirectTarget = nil
        } else {
            endpoint = endpoints[index]
        }
        current = endpoint
        attempts += 1
        let expected = generation
        resolver.resolve(endpoint, on: eventLoop) { [weak self] result in
            guard let self else { return }
            self.eventLoopResolved(result, endpoint: endpoint, generation: expected)
        }
    }

    private func eventLoopResolved(
        _ result: Result<[SocketAddress], ReactorError>, endpoint: Endpoint, generation expected: Int
    ) {
        guard !stopped, generation == expected else { return }
        switch result {
        case .success(let addresses):
            logger.info("connecting to \(endpoint) (\(addresses[0]))")
            connect?(addresses[0], endpoint)
        case .failure(let error):
            logger.warning("\(error)")
            linkDown()
        }
    }

    private func scheduleProbe() {
        let expected = generation
        probeTimer = eventLoop.schedule(after: policy.primaryRetryInterval) { [weak self] in
            guard let self, !self.stopped, self.isUp, self.generation == expected else { return }
            self.probeTimer = nil
            self.probePrimary(generation: expected)
        }
    }

    private func probePrimary(generation expected: Int) {
        let primary = endpoints[0]
        resolver.resolve(primary, on: eventLoop) { [weak self] result in
            guard let self, !self.stopped, self.isUp, self.generation == expected else { return }
            guard case .success(let addresses) = result else { return self.scheduleProbe() }
            self.eventLoop.connect(to: addresses[0], timeout: .seconds(5), handler: ProbeHandler()) { [weak self] outcome in
                guard let self else { return }
                switch outcome {
                case .success(let connection):
                    connection.close()
                    guard !self.stopped, self.isUp, self.generation == expected else { return }
                    self.logger.notice("\(primary) is back: moving to it")
                    self.redirectTarget = primary
                    self.onSwitchToPrimary?()
                case .failure:
                    guard !self.stopped, self.isUp, self.generation == expected else { return }
                    self.scheduleProbe()
                }
            }
        }
    }

    private func cancelTimers() {
        if let retryTimer { eventLoop.cancel(retryTimer) }
        if let probeTimer { eventLoop.cancel(probeTimer) }
        retryTimer = nil
        probeTimer = nil
    }
}

/// Ignores everything: the primary probe only checks that a TCP connect succeeds.
private final class ProbeHandler: ConnectionHandler {
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int { bytes.count }
    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {}
}

extension Sv2Failover {
    /// Runs `client` through this failover: every attempt connects the client, its state changes report the link
    /// up or down (then `onState` runs), a switch back to the first upstream closes it, and a server's `Reconnect`
    /// redirects it. Call ``start()`` afterwards. Loop thread only.
    public func drive<Mining, JobDeclaration, TemplateDistribution>(
        _ client: Sv2Client<Mining, JobDeclaration, TemplateDistribution>,
        onState: ((Sv2ClientState) -> Void)? = nil
    ) {
        // The client's lifeline, not a weak reference: see `Lifeline` (a weak reference gives the client a side table,
        // and every retain of it per read would then take the runtime's slow path).
        let lifeline = client.lifeline
        connect = { address, endpoint in _ = lifeline.withOwner { $0.connect(to: address, endpoint: endpoint) } }
        onSwitchToPrimary = { _ = lifeline.withOwner { $0.close() } }
        client.onReconnectRequest = { [weak self] endpoint in
            self?.redirect(to: endpoint)
            _ = lifeline.withOwner { $0.close() }
        }
        client.onStateChange = { [weak self] state in
            switch state {
            case .ready: self?.linkUp()
            case .closed: self?.linkDown()
            default: break
            }
            onState?(state)
        }
    }
}
