import Metrics
import Reactor
import Synchronization

/// Exports a service's statistics to swift-metrics once a second. The hot path only bumps plain integers in
/// `Sv2ServiceStatistics`; this timer turns their deltas into counter increments, so no metrics backend call (an
/// existential, possibly a lock) happens per frame.
///
/// Every series carries a `server` dimension (``Sv2ServerConfiguration/metricsName``, or a name unique in the
/// process), so two servers in one process never add up into one series.
final class Sv2ServiceMetrics {
    private let connectionsOpened: Counter
    private let connectionsClosed: Counter
    private let connectionsRefused: Counter
    private let handshakes: Counter
    private let handshakeFailures: Counter
    private let framesIn: Counter
    private let framesOut: Counter
    private let rejectedFrames: Counter
    private let errors: Counter
    private let active: Gauge
    private let setups: Counter
    private let prefix: String
    /// The `server` dimension.
    let name: String
    private var errorsByKind: [String: Counter] = [:]
    private var last = Sv2ServiceStatistics()
    private var timer: TimerHandle?

    private static let unnamed = Atomic<Int>(0)

    /// `server-N`, unique in the process (for servers whose configuration names none).
    static func uniqueName() -> String {
        "server-\(unnamed.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    init(prefix: String, name: String) {
        self.prefix = prefix
        self.name = name
        let server = [("server", name)]
        connectionsOpened = Counter(label: "\(prefix)_connections_opened_total", dimensions: server)
        connectionsClosed = Counter(label: "\(prefix)_connections_closed_total", dimensions: server)
        connectionsRefused = Counter(label: "\(prefix)_connections_refused_total", dimensions: server)
        handshakes = Counter(label: "\(prefix)_handshakes_total", dimensions: server)
        handshakeFailures = Counter(label: "\(prefix)_handshake_failures_total", dimensions: server)
        setups = Counter(label: "\(prefix)_setups_accepted_total", dimensions: server)
        framesIn = Counter(label: "\(prefix)_frames_in_total", dimensions: server)
        framesOut = Counter(label: "\(prefix)_frames_out_total", dimensions: server)
        rejectedFrames = Counter(label: "\(prefix)_rejected_frames_total", dimensions: server)
        errors = Counter(label: "\(prefix)_errors_total", dimensions: server)
        active = Gauge(label: "\(prefix)_connections_active", dimensions: server)
    }

    func startExporting(on loop: EventLoop, statistics: @escaping () -> Sv2ServiceStatistics) {
        guard timer == nil else { return }
        timer = loop.schedule(after: .seconds(1)) { [weak self, unowned loop] in
            guard let self else { return }
            self.timer = nil
            self.export(statistics())
            self.startExporting(on: loop, statistics: statistics)
        }
    }

    func stopExporting(on loop: EventLoop) {
        if let timer { loop.cancel(timer) }
        timer = nil
    }

    func export(_ now: Sv2ServiceStatistics) {
        connectionsOpened.increment(by: now.connectionsOpened - last.connectionsOpened)
        connectionsClosed.increment(by: now.connectionsClosed - last.connectionsClosed)
        connectionsRefused.increment(by: now.connectionsRefused - last.connectionsRefused)
        handshakes.increment(by: now.handshakesCompleted - last.handshakesCompleted)
        handshakeFailures.increment(by: now.handshakeFailures - last.handshakeFailures)
        setups.increment(by: now.setupsAccepted - last.setupsAccepted)
        framesIn.increment(by: now.framesIn - last.framesIn)
        framesOut.increment(by: now.framesOut - last.framesOut)
        rejectedFrames.increment(by: now.rejectedFrames - last.rejectedFrames)
        errors.increment(by: now.errors - last.errors)
        active.record(now.connectionsActive)
        for (kind, count) in now.errorCounts where count != last.errorCounts[kind] {
            let counter = errorsByKind[kind]
                ?? Counter(label: "\(prefix)_errors_by_kind_total", dimensions: [("server", name), ("kind", kind)])
            errorsByKind[kind] = counter
            counter.increment(by: count - (last.errorCounts[kind] ?? 0))
        }
        last = now
    }
}
