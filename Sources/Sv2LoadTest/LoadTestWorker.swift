import Histogram
import Logging
import Reactor
import Sv2Service

/// One event loop's share of the simulated miners (slots `s` hold the run's connections `s · loops + index`).
///
/// Everything here runs on the worker's loop thread, except ``snapshot(into:)`` requests, which arrive through
/// `execute`, and the final read after the loop has returned.
final class LoadTestWorker {
    typealias MinerClient = Sv2Client<
        SimulatedMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler
    >

    /// Where a slot's current connection is.
    enum SlotPhase: UInt8 { case idle, connecting, connected, ready, closing }

    /// Counter values at the phase boundaries, for rates over the measured window.
    struct Marks {
        var atRampEnd: LoadTestCounters?
        var atSendEnd: LoadTestCounters?
        var lastHandshakeAt: UInt64 = 0
        var sendEndedAt: UInt64 = 0
    }

    let index: Int
    let configuration: LoadTestConfiguration
    let loop: EventLoop
    private let slotCount: Int
    private var clients: [MinerClient?]
    /// Stratum V1 mode's miners (empty in Sv2 mode).
    private var sv1Miners: [SimulatedSv1Miner?]
    /// Miners that submitted in the current rate tick and their first sequence number (reused, no allocation).
    private var burst: [(slot: Int, first: UInt32)] = []
    private var phases: [SlotPhase]
    private let clientTemplate: Sv2ClientConfiguration
    private let logger: Logger
    var counters = LoadTestCounters()
    private(set) var marks = Marks()
    private var intervalLatency = LatencySummary.makeHistogram()
    private(set) var totalLatency = LatencySummary.makeHistogram()
    /// Shares may be submitted (false once the measured phase ends).
    private(set) var isSubmitting = true
    private var isStopping = false
    private var opened = 0
    private var attempts = 0
    private var start: UInt64 = 0
    private var rampEnd: UInt64 = 0
    private var sendEnd: UInt64 = 0
    private var drainEnd: UInt64 = 0
    private var nextRateTick: UInt64 = 0
    private let rateTick: UInt64

    init(index: Int, configuration: LoadTestConfiguration) throws(LoadTestError) {
        self.index = index
        self.configuration = configuration
        do {
            loop = try EventLoop(configuration: EventLoopConfiguration(backend: configuration.backend))
        } catch {
            throw .startFailed("event loop \(index): \(error)")
        }
        let loops = configuration.eventLoops
        slotCount = configuration.connections / loops + (index < configuration.connections % loops ? 1 : 0)
        clients = Array(repeating: nil, count: configuration.stratumV1 ? 0 : slotCount)
        sv1Miners = Array(repeating: nil, count: configuration.stratumV1 ? slotCount : 0)
        phases = Array(repeating: .idle, count: slotCount)
        var template = Sv2ClientConfiguration(
            serverAddress: configuration.serverAddress, sv2Protocol: .mining, security: configuration.security)
        template.connectTimeout = configuration.connectTimeout
        template.handshakeTimeout = .seconds(30)
        template.vendor = "swift-stratum-loadtest"
        clientTemplate = template
        var logger = Logger(label: "stratum.loadtest")
        logger.logLevel = .critical  // per-connection warnings would drown the progress lines; counters tell the story
        self.logger = logger
        // Pace rate-mode submissions in steps of 1/rate, but no finer than 10 ms nor coarser than 100 ms.
        let step = configuration.sharesPerSecond > 0 ? 1 / configuration.sharesPerSecond : 0.1
        rateTick = UInt64(Swift.min(0.1, Swift.max(0.01, step)) * 1e9)
    }

    /// Starts the timeline at monotonic time `start` (nanoseconds). Loop thread.
    func begin(at start: UInt64) {
        self.start = start
        rampEnd = start &+ configuration.rampUp.nanoseconds
        sendEnd = rampEnd &+ configuration.duration.nanoseconds
        drainEnd = sendEnd &+ configuration.drainTimeout.nanoseconds
        tick()
    }

    // MARK: Timeline

    private func tick() {
        let now = loop.now
        if !isStopping && now >= start {
            openDueConnections(now: now)
            if isSubmitting && configuration.sharesPerSecond > 0 && !configuration.handshakeOnly && !configuration.idle
                && now >= nextRateTick {
                nextRateTick = now &+ rateTick
                submitDueShares(now: now)
            }
            if marks.atRampEnd == nil && now >= rampEnd { marks.atRampEnd = counters }
            if isSubmitting && now >= sendEnd {
                isSubmitting = false
                marks.atSendEnd = counters
                marks.sendEndedAt = now
            }
            if !isSubmitting && (configuration.handshakeOnly || counters.sharesOutstanding - counters.sharesLostOnClose <= 0
                                 || now >= drainEnd) {
                finish()
                return
            }
        }
        loop.schedule(after: .milliseconds(10)) { [unowned(unsafe) self] in self.tick() }
    }

    private func openDueConnections(now: UInt64) {
        let rampNanoseconds = configuration.rampUp.nanoseconds
        let due: Int
        if rampNanoseconds == 0 || now >= rampEnd {
            due = slotCount
        } else {
            due = Swift.min(slotCount, Int(Double(slotCount) * Double(now &- start) / Double(rampNanoseconds)) + 1)
        }
        while opened < due {
            connect(slot: opened)
            opened += 1
        }
    }

    private func submitDueShares(now: UInt64) {
        if configuration.stratumV1 { return submitDueSv1Shares(now: now) }
        let rate = configuration.sharesPerSecond
        burst.removeAll(keepingCapacity: true)
        for slot in 0..<slotCount where phases[slot] == .ready {
            guard let client = clients[slot], client.mining.canSubmit else { continue }
            let due = dueShares(
                slot: slot, rate: rate, miningSince: client.mining.miningSince, sharesSent: client.mining.sharesSent,
                now: now)
            guard due > 0 else { continue }
            burst.append((slot, client.mining.nextSequence))
            for _ in 0..<due {
                guard let share = client.mining.nextShare(now: now) else { break }
                do {
                    switch share {
                    case .standard(let message): try client.send(message)
                    case .extended(let message): try client.send(message)
                    }
                } catch { break }
            }
        }
        // The burst leaves when the loop flushes, right after this timer callback: stamp it as sent now.
        let sent = LatencyClock.now()
        for (slot, first) in burst { clients[slot]?.mining.restampShares(from: first, at: sent) }
    }

    /// How many shares slot `slot`'s miner owes at `now` (at most 1,000 at once): `rate` a second since it started
    /// mining. Each miner's shares fall due at its own phase of the share period (slot / slots of it): in step, every
    /// miner sent in the same tick and each share's latency was mostly the wait behind that burst.
    private func dueShares(slot: Int, rate: Double, miningSince: UInt64, sharesSent: Int, now: UInt64) -> Int {
        let elapsed = Double(now &- miningSince) / 1e9
        let phase = Double(slot) / Double(slotCount)
        return Swift.min(1_000, Int(rate * elapsed + phase) + 1 - sharesSent)
    }

    /// ``submitDueShares(now:)`` for Stratum V1 miners: the same pacing, one `mining.submit` per share.
    private func submitDueSv1Shares(now: UInt64) {
        let rate = configuration.sharesPerSecond
        burst.removeAll(keepingCapacity: true)
        for slot in 0..<slotCount where phases[slot] == .ready {
            guard let miner = sv1Miners[slot], miner.canSubmit else { continue }
            let due = dueShares(slot: slot, rate: rate, miningSince: miner.miningSince, sharesSent: miner.sharesSent, now: now)
            guard due > 0 else { continue }
            burst.append((slot, miner.nextSequence))
            for _ in 0..<due {
                guard miner.nextShare() else { break }
            }
        }
        let sent = LatencyClock.now()
        for (slot, first) in burst { sv1Miners[slot]?.restampShares(from: first, at: sent) }
    }

    /// Stops submitting and reconnecting, closes every connection and lets the loop return.
    private func finish() {
        isStopping = true
        if marks.atSendEnd == nil { marks.atSendEnd = counters }
        for slot in 0..<slotCount {
            if phases[slot] == .ready { phases[slot] = .closing }
            close(slot: slot)
        }
        loop.stop(gracePeriod: .seconds(1))
    }

    // MARK: Connections

    /// Closes `slot`'s connection, whichever protocol it speaks.
    private func close(slot: Int) {
        if configuration.stratumV1 { sv1Miners[slot]?.close() } else { clients[slot]?.close() }
    }

    private func connect(slot: Int) {
        let attempt = configuration.handshakeOnly ? attempts : slot
        attempts += 1
        let source = configuration.sourceAddresses.address(forConnection: attempt * configuration.eventLoops + index)
        if configuration.stratumV1 {
            let miner = SimulatedSv1Miner(
                worker: self, slot: slot, user: "\(configuration.userIdentity).\(slot * configuration.eventLoops + index)")
            sv1Miners[slot] = miner
            phases[slot] = .connecting
            counters.connectsStarted += 1
            miner.connect(to: configuration.serverAddress, from: source, timeout: configuration.connectTimeout)
            return
        }
        var client = clientTemplate
        client.localAddress = source
        let miner: MinerClient
        do {
            miner = try MinerClient(
                configuration: client, eventLoop: loop, mining: SimulatedMiner(worker: self, slot: slot),
                jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler(), logger: logger)
        } catch {
            counters.connectFailures += 1
            return
        }
        miner.onStateChange = { [unowned(unsafe) self] state in self.stateChanged(slot: slot, state) }
        clients[slot] = miner
        phases[slot] = .connecting
        counters.connectsStarted += 1
        miner.connect()
    }

    private func stateChanged(slot: Int, _ state: Sv2ClientState) {
        switch state {
        case .handshaking, .settingUp:
            phases[slot] = .connected
        case .closed:
            closed(slot: slot)
        case .idle, .connecting, .ready:
            break
        }
    }

    /// A Stratum V1 miner's connection changed (``SimulatedSv1Miner`` calls this).
    enum Sv1ConnectionState { case connected, closingOnError, closed }

    /// Follows a Stratum V1 miner's connection: TCP up (the handshake starts), about to be closed by the miner
    /// itself for a protocol error (counted as such, not as a server close), closed.
    func sv1StateChanged(slot: Int, _ state: Sv1ConnectionState) {
        switch state {
        case .connected: phases[slot] = .connected
        case .closingOnError: if phases[slot] == .ready { phases[slot] = .closing }
        case .closed: closed(slot: slot)
        }
    }

    private func closed(slot: Int) {
        let was = phases[slot]
        phases[slot] = .idle
        switch was {
        // Attempts still in progress when the run ends are cut off by us, not failures.
        case .connecting: if !isStopping { counters.connectFailures += 1 }
        case .connected: if !isStopping { counters.handshakeFailures += 1 }
        case .ready:
            counters.connectionsUp -= 1
            counters.unexpectedCloses += 1
        case .closing: counters.connectionsUp -= 1
        case .idle: break
        }
        if configuration.handshakeOnly && !isStopping && isSubmitting { connect(slot: slot) }
    }

    /// Most distinct rejection keys kept; further ones are counted under `other` (a server's codes are not
    /// trusted to be few).
    static let maximumRejectionKeys = 64

    /// Counts one rejection under `key`.
    func countRejection(_ key: String) {
        if counters.rejectionCodes[key] == nil && counters.rejectionCodes.count >= Self.maximumRejectionKeys {
            counters.rejectionCodes["other", default: 0] += 1
        } else {
            counters.rejectionCodes[key, default: 0] += 1
        }
    }

    /// SetupConnection succeeded on `slot` (called by its miner).
    func didSetUp(slot: Int) {
        phases[slot] = .ready
        counters.handshakesCompleted += 1
        counters.connectionsUp += 1
        counters.peakConnectionsUp = Swift.max(counters.peakConnectionsUp, counters.connectionsUp)
        marks.lastHandshakeAt = loop.now
        if configuration.handshakeOnly {
            phases[slot] = .closing
            close(slot: slot)
        }
    }

    /// Records one share's acknowledgement latency (nanoseconds).
    func record(latency nanoseconds: UInt64) {
        _ = intervalLatency.record(Swift.max(1, Swift.min(nanoseconds / 1_000, 60_000_000)))
    }

    // MARK: Snapshots

    /// Counters plus the latencies recorded since the previous snapshot (which are folded into the total).
    func takeSnapshot() -> LoadTestWorkerSnapshot {
        totalLatency.add(intervalLatency)
        let snapshot = LoadTestWorkerSnapshot(counters: counters, intervalLatency: intervalLatency, marks: marks)
        intervalLatency.reset()
        return snapshot
    }
}

/// What a worker reports once a second and at the end.
struct LoadTestWorkerSnapshot: Sendable {
    var counters: LoadTestCounters
    var intervalLatency: Histogram<UInt64>
    var marks: LoadTestWorker.Marks
}

extension Duration {
    /// Whole nanoseconds, clamped at zero.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// Seconds as a `Double`.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
