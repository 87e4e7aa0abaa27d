public import Logging
public import Reactor
public import Sv2Service
import Sv2Mining
import Synchronization

/// One pool on several event loops (threads): `sv2 pool --threads N`.
///
/// Each loop runs a ``PoolService`` of its own: a Mining server listening on the same address with
/// `SO_REUSEPORT` (the kernel spreads connections over the loops, and a connection, its channels, their validators
/// and duplicate filters belong to the loop that accepted it), and a ``Pool`` handing out channel ids and extranonce
/// prefixes from its own partition of those spaces (``PoolConfiguration/partitionIndex``), so both are unique across
/// loops. Nothing on the share path crosses a thread.
///
/// The first loop (index 0) holds the one template link (embedded source or Template Provider). Every template,
/// chain tip and link change it receives is fanned out to the other loops' pools in order, through
/// `EventLoop.execute` with at most one delivery task pending per loop (the events wait in a bounded queue; a loop
/// that falls more than ``feedCapacity`` events behind is resynchronised from the current tip instead). A block
/// found on any loop is journaled by that loop's pool (a shared `BlockJournal` serialises its writes) and handed
/// to the first loop's template link with `tryExecute`; when that refuses, the block stays pending and is retried.
///
/// Counters: each loop publishes a snapshot of its pool (``PoolLoopSnapshot``) every ``snapshotInterval``;
/// ``snapshot()`` on the first loop sums them with its own live figures. Accounting: give each loop its own port of
/// one ledger (`ShareLedger.makePort()`), so every loop's windows reach the one writer.
///
/// Set-up: create the cluster (any thread), set shared hooks on every ``services`` entry (block journal, ledger,
/// `onBlockFound`) before starting, then ``start(loop:)`` on every loop's thread, the first loop first (or all of
/// them from the creating thread before the loops run). ``stop(loop:)`` on each loop drains it.
public final class PoolCluster: @unchecked Sendable {
    /// One service per loop; `services[0]` holds the template link. Each is loop-thread only (its own loop).
    public let services: [PoolService]
    /// How often each loop publishes its counters for ``snapshot()``.
    public let snapshotInterval: Duration
    /// Events a loop may fall behind the template link before it is resynchronised from the current tip.
    public let feedCapacity: Int
    private let fanout: TemplateFanout
    private let published: Mutex<[PoolLoopSnapshot]>
    private let boundAddress = Mutex<SocketAddress?>(nil)
    private let publishUserTotals: Bool
    private let logger: Logger

    /// Builds one service per loop of `eventLoops` (nothing listens or connects until ``start(loop:)``). With one
    /// loop it is exactly a ``PoolService``. `publishUserTotals` also publishes per-user totals (per-user metrics).
    /// `acceptsWorkSelection` lets miners' JD clients set custom jobs on every loop; give each loop's
    /// `Pool.customJobAuthorizer` one shared, thread-safe check (a `MiningJobTokenVerifier`), so a token spent on one
    /// loop is refused on the others.
    public init(
        configuration: PoolConfiguration, server: Sv2ServerConfiguration, templateSource: PoolService.TemplateSource,
        eventLoops: [EventLoop], logger: Logger = Logger(label: "stratum.pool"), publishUserTotals: Bool = false,
        snapshotInterval: Duration = .milliseconds(500), feedCapacity: Int = 1024, acceptsWorkSelection: Bool = false
    ) throws(Sv2ServiceError) {
        guard !eventLoops.isEmpty, eventLoops.count <= 256 else {
            throw .invalidConfiguration("a pool runs on 1...256 event loops")
        }
        guard feedCapacity >= 16 else { throw .invalidConfiguration("feedCapacity must be at least 16") }
        var services: [PoolService] = []
        for (index, loop) in eventLoops.enumerated() {
            var poolConfiguration = configuration
            poolConfiguration.partitionIndex = index
            poolConfiguration.partitionCount = eventLoops.count
            var serverConfiguration = Self.share(of: server, loops: eventLoops.count)
            // Each loop's server keeps its own `sv2_server_*` series; the pool's series are summed (``snapshot()``).
            if index > 0 { serverConfiguration.metricsName = server.metricsName.map { "\($0)-loop\(index)" } }
            services.append(try PoolService(
                configuration: poolConfiguration, server: serverConfiguration,
                optionalSource: index == 0 ? templateSource : nil, eventLoop: loop, logger: logger,
                acceptsWorkSelection: acceptsWorkSelection))
        }
        self.services = services
        self.snapshotInterval = snapshotInterval
        self.feedCapacity = feedCapacity
        self.publishUserTotals = publishUserTotals
        self.logger = logger
        fanout = TemplateFanout(services: services, capacity: feedCapacity)
        published = Mutex([PoolLoopSnapshot](repeating: PoolLoopSnapshot(), count: eventLoops.count))
    }

    /// The number of loops.
    public var loopCount: Int { services.count }

    /// One loop's server configuration: with several loops, `SO_REUSEPORT`, and the process-wide caps split evenly
    /// over the loops, each of which enforces its part — `maxConnections` rounded down (it protects the process's
    /// descriptor limit, so the loops together never exceed it), the per-source limits and `maxHandshakesInFlight`
    /// rounded up (the kernel spreads one source's connections over the loops by their ports, so each loop sees about
    /// its share of them).
    static func share(of server: Sv2ServerConfiguration, loops: Int) -> Sv2ServerConfiguration {
        guard loops > 1 else { return server }
        var part = server
        part.reusePort = true
        part.maxConnections = Swift.max(1, server.maxConnections / loops)
        part.maxHandshakesInFlight = (server.maxHandshakesInFlight + loops - 1) / loops
        part.maxConnectionsPerSource = (server.maxConnectionsPerSource + loops - 1) / loops
        part.newConnectionsPerSourceBurst = (server.newConnectionsPerSourceBurst + loops - 1) / loops
        part.newConnectionsPerSourcePerSecond = server.newConnectionsPerSourcePerSecond / Double(loops)
        return part
    }

    /// Times a loop fell ``feedCapacity`` template events behind and was resynchronised from the current tip.
    public var feedResyncs: Int { fanout.resyncCount }

    /// The address every loop listens on, once the first loop started. Any thread.
    public var localAddress: SocketAddress? { boundAddress.withLock { $0 } }

    /// Starts loop `index`'s service. Loop `index`'s thread (or the creating thread before the loop runs); loop 0
    /// first: the others listen on the port it bound.
    public func start(loop index: Int) throws(Sv2ServiceError) {
        let service = services[index]
        if index == 0 {
            if services.count > 1 {
                service.templateFeed = { [fanout] event in fanout.post(event) }
            }
            try service.start()
            let address = service.localAddress
            boundAddress.withLock { $0 = address }
        } else {
            guard let address = boundAddress.withLock({ $0 }) else {
                throw .invalidConfiguration("start the pool's first loop before the others")
            }
            let primary = LoopShared(services[0])
            let primaryLoop = services[0].eventLoop
            let logger = logger
            service.pool.onSolution = { (solution) throws(Sv2ServiceError) in
                // The block is journaled already; the first loop's template link sends it. Refused (that loop is
                // flooded with tasks): the block stays pending and the pool's tick retries it.
                let accepted = primaryLoop.tryExecute {
                    guard let client = primary.value.templateClient else {
                        return logger.error("block not submitted: no template link (it is resubmitted when one is back)")
                    }
                    do { try client.send(solution) } catch {
                        logger.error("block not submitted (resubmitted when the template link is back): \(error)")
                    }
                }
                guard accepted else { throw .notConnected }
            }
            // The first loop's template link answers the requests for the transactions of this loop's blocks:
            // its pool asks and journals them. Queued before the SubmitSolution task below, so the request goes
            // out first on that link.
            service.pool.blockDataDelegate = { block, height in
                let accepted = primaryLoop.tryExecute { primary.value.pool.requestBlockData(block, height: height) }
                if !accepted {
                    logger.warning("block \(block.hash): its transactions not asked for (the first loop is flooded with tasks); it stays journaled with its header and coinbase only")
                }
            }
            try service.start(listeningOn: address)
            fanout.join(loop: index)
        }
        publish(loop: index)
    }

    /// Stops loop `index`'s service (batched acknowledgements sent, connections flushed and closed; see
    /// ``PoolService/stop()``) and publishes its final counters. Loop `index`'s thread.
    public func stop(loop index: Int) {
        services[index].stop()
        if index > 0 { fanout.leave(loop: index) }
        publishNow(loop: index)
    }

    /// Each loop's latest published counters (loop `index` at `[index]`). Any thread.
    public var loopSnapshots: [PoolLoopSnapshot] { published.withLock { $0 } }

    /// The whole pool's counters: the first loop's live figures plus every other loop's latest snapshot. Loop 0's
    /// thread.
    public func snapshot() -> PoolLoopSnapshot {
        var total = PoolLoopSnapshot(services[0], userTotals: publishUserTotals)
        let others = published.withLock { Array($0.dropFirst()) }
        for other in others { total.add(other) }
        return total
    }

    private func publish(loop index: Int) {
        publishNow(loop: index)
        // Also after stop: the connections it closes are counted down in later snapshots while the loop drains.
        _ = services[index].eventLoop.schedule(after: snapshotInterval) { [weak self] in self?.publish(loop: index) }
    }

    private func publishNow(loop index: Int) {
        let snapshot = PoolLoopSnapshot(services[index], userTotals: publishUserTotals)
        published.withLock { $0[index] = snapshot }
    }
}

/// A loop-thread-only object handed to another thread's closure that only ever uses it on its own loop (through
/// `execute`).
struct LoopShared<Value: AnyObject>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Hands the template link's events from the first loop to the others: one bounded queue per loop, at most one
/// delivery task pending per loop, and the current tip (with its template and the templates since) to resynchronise
/// a loop that joins late or falls behind.
final class TemplateFanout: Sendable {
    private struct State {
        /// Per loop: events waiting, a delivery task pending, the loop takes events (joined and not stopped).
        var queues: [[TemplateFeedEvent]]
        var scheduled: [Bool]
        var joined: [Bool]
        /// The replay of the current state: the tip's template, the tip, templates since (bounded), link lost.
        var tipTemplate: BlockTemplate?
        var tip: TemplateChainTip?
        var since: [BlockTemplate] = []
        var lost = false
        var resyncs = 0

        var replay: [TemplateFeedEvent] {
            var events: [TemplateFeedEvent] = []
            if let tipTemplate, let tip { events += [.template(tipTemplate), .chainTip(tip)] }
            events += since.map { .template($0) }
            if lost { events.append(.lost) }
            return events
        }
    }

    private let state: Mutex<State>
    /// The loops' services, weakly: the first loop's service holds this fan-out (through its template feed).
    private let targets: [WeakService]
    let capacity: Int
    /// Templates kept after the tip for a replay (future templates and fee updates; the newest are kept).
    static let replayTemplates = 16

    init(services: [PoolService], capacity: Int) {
        let loops = services.count
        targets = services.map(WeakService.init)
        self.capacity = capacity
        state = Mutex(State(
            queues: Array(repeating: [], count: loops), scheduled: Array(repeating: false, count: loops),
            joined: Array(repeating: false, count: loops)))
    }

    /// Loops resynchronised from the current tip because they fell `capacity` events behind.
    var resyncCount: Int { state.withLock { $0.resyncs } }

    /// Records `event` (first loop's thread) and queues it for every joined loop.
    func post(_ event: TemplateFeedEvent) {
        let wake = state.withLock { state -> [Int] in
            switch event {
            case .template(let template):
                if let tip = state.tip, template.templateID == tip.templateID { break }
                state.since.append(template)
                if state.since.count > Self.replayTemplates { state.since.removeFirst() }
            case .chainTip(let tip):
                let known = state.tipTemplate?.templateID == tip.templateID ? state.tipTemplate : nil
                if let template = state.since.last(where: { $0.templateID == tip.templateID }) ?? known {
                    state.tipTemplate = template
                    state.tip = tip
                    state.since.removeAll()
                    state.lost = false
                }
            case .connected: break
            case .lost: state.lost = true
            }
            var wake: [Int] = []
            for loop in state.queues.indices where state.joined[loop] {
                if state.queues[loop].count >= capacity {
                    // The loop is far behind: what it misses is replaced by the current state.
                    state.queues[loop] = state.replay
                    state.resyncs += 1
                } else {
                    state.queues[loop].append(event)
                }
                if !state.scheduled[loop] {
                    state.scheduled[loop] = true
                    wake.append(loop)
                }
            }
            return wake
        }
        for loop in wake { schedule(loop: loop) }
    }

    /// Loop `loop` starts taking events: the current state first (its thread, after its service started).
    func join(loop: Int) {
        let wake = state.withLock { state -> Bool in
            state.joined[loop] = true
            state.queues[loop] = state.replay
            guard !state.queues[loop].isEmpty, !state.scheduled[loop] else { return false }
            state.scheduled[loop] = true
            return true
        }
        if wake { schedule(loop: loop) }
    }

    /// Loop `loop` stopped: nothing more is queued for it.
    func leave(loop: Int) {
        state.withLock { state in
            state.joined[loop] = false
            state.queues[loop].removeAll()
        }
    }

    private func schedule(loop: Int) {
        guard let service = targets[loop].value else { return }
        let shared = LoopShared(service)
        // At most one such task per loop is pending (`scheduled`), so this door stays bounded.
        service.eventLoop.execute { [self] in deliver(loop: loop, to: shared.value) }
    }

    /// On loop `loop`: feeds what is queued to its pool, in order.
    private func deliver(loop: Int, to service: PoolService) {
        let events = state.withLock { state -> [TemplateFeedEvent] in
            state.scheduled[loop] = false
            let events = state.queues[loop]
            state.queues[loop].removeAll(keepingCapacity: true)
            return events
        }
        let pool = service.pool
        for event in events {
            do throws(PoolError) {
                switch event {
                case .template(let template): try pool.receive(template: template)
                case .chainTip(let tip): try pool.receive(chainTip: tip)
                case .connected: pool.templateSourceConnected()
                case .lost: pool.templateSourceLost()
                }
            } catch {
                pool.logger.error("template feed: \(error)")
            }
        }
    }
}

/// A weak reference to a loop's service, for the fan-out (only dereferenced to reach its loop and, on it, its pool).
final class WeakService: @unchecked Sendable {
    weak var value: PoolService?
    init(_ value: PoolService) { self.value = value }
}
