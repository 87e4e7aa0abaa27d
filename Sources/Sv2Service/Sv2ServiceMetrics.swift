import Metrics
import Reactor

/// Exports a service's statistics to swift-metrics once a second. The hot path only bumps plain integers in
/// `Sv2ServiceStatistics`; this timer turns their deltas into counter increments, so no metrics backend call (an
/// existential, possibly a lock) happens per frame.
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
    private let refusedByReason: [(KeyPath<Sv2ServiceStatistics, Int>, Counter)]
    private let handshakesDeferred: Counter
    private let logLinesSuppressed: Counter
    private let prefix: String
    private var errorsByKind: [String: Counter] = [:]
    private var last = Sv2ServiceStatistics()
    private var timer: TimerHandle?

    init(prefix: String) {
        self.prefix = prefix
        connectionsOpened = Counter(label: "\(prefix)_connections_opened_total")
        connectionsClosed = Counter(label: "\(prefix)_connections_closed_total")
        connectionsRefused = Counter(label: "\(prefix)_connections_refused_total")
        handshakes = Counter(label: "\(prefix)_handshakes_total")
        handshakeFailures = Counter(label: "\(prefix)_handshake_failures_total")
        framesIn = Counter(label: "\(prefix)_frames_in_total")
        framesOut = Counter(label: "\(prefix)_frames_out_total")
        rejectedFrames = Counter(label: "\(prefix)_rejected_frames_total")
        errors = Counter(label: "\(prefix)_errors_total")
        active = Gauge(label: "\(prefix)_connections_active")
        let refused = "\(prefix)_connections_refused_by_reason_total"
        refusedByReason = [
            (\.refusedMaxConnections, Counter(label: refused, dimensions: [("reason", "max_connections")])),
            (\.refusedHandshakesInFlight, Counter(label: refused, dimensions: [("reason", "handshakes_in_flight")])),
            (\.refusedSourceConnections, Counter(label: refused, dimensions: [("reason", "source_connections")])),
            (\.refusedSourceRate, Counter(label: refused, dimensions: [("reason", "source_rate")])),
        ]
        handshakesDeferred = Counter(label: "\(prefix)_handshakes_deferred_total")
        logLinesSuppressed = Counter(label: "\(prefix)_log_lines_suppressed_total")
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
        framesIn.increment(by: now.framesIn - last.framesIn)
        framesOut.increment(by: now.framesOut - last.framesOut)
        rejectedFrames.increment(by: now.rejectedFrames - last.rejectedFrames)
        errors.increment(by: now.errors - last.errors)
        active.record(now.connectionsActive)
        for (field, counter) in refusedByReason where now[keyPath: field] != last[keyPath: field] {
            counter.increment(by: now[keyPath: field] - last[keyPath: field])
        }
        handshakesDeferred.increment(by: now.handshakesDeferred - last.handshakesDeferred)
        logLinesSuppressed.increment(by: now.logLinesSuppressed - last.logLinesSuppressed)
        for (kind, count) in now.errorCounts where count != last.errorCounts[kind] {
            let counter = errorsByKind[kind] ?? Counter(label: "\(prefix)_errors_by_kind_total", dimensions: [("kind", kind)])
            errorsByKind[kind] = counter
            counter.increment(by: count - (last.errorCounts[kind] ?? 0))
        }
        last = now
    }
}
