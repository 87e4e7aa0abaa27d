import Foundation
import Glibc
import Histogram
import Reactor
import Synchronization

/// Runs a load test: spreads the simulated miners over event-loop threads, prints progress once a second and
/// returns the final report.
///
/// ```swift
/// var configuration = LoadTestConfiguration(serverAddress: try SocketAddress(parsing: "127.0.0.1:34254"))
/// configuration.connections = 10_000
/// let report = try LoadTest(configuration: configuration).run { print($0.line) }
/// print(report.table)
/// ```
public final class LoadTest {
    /// The settings.
    public let configuration: LoadTestConfiguration

    /// Validates `configuration`.
    public init(configuration: LoadTestConfiguration) throws(LoadTestError) {
        try configuration.validate()
        self.configuration = configuration
    }

    /// Runs to the end (ramp-up + duration + drain), calling `progress` every `progressInterval` on the calling thread.
    public func run(progress: ((LoadTestProgress) -> Void)? = nil) throws(LoadTestError) -> LoadTestReport {
        LoadTest.raiseFileLimit(toAtLeast: configuration.connections / configuration.eventLoops + 1_024)
        let workers = try (0..<configuration.eventLoops).map { (index) throws(LoadTestError) in
            try LoadTestWorker(index: index, configuration: configuration)
        }
        let date = ISO8601DateFormatter().string(from: Date())
        let finals = Mutex<[Int: LoadTestWorkerSnapshot]>([:])
        let finished = DispatchSemaphore(value: 0)
        let start = LoadTest.monotonicNow() &+ 20_000_000
        for worker in workers {
            let box = UncheckedBox(worker)
            let thread = Thread {
                let worker = box.value
                // Named from inside: Foundation on Linux does not apply `Thread.name` set before `start()`.
                nameCurrentThread("loadtest-\(worker.index)")
                do throws(ReactorError) { try worker.loop.run() } catch {
                    FileHandle.standardError.write(Data("loadtest loop \(worker.index): \(error)\n".utf8))
                }
                let snapshot = worker.takeSnapshot()
                finals.withLock { $0[worker.index] = snapshot }
                finished.signal()
            }
            thread.start()
            worker.loop.execute { box.value.begin(at: start) }
        }

        var previous = LoadTestCounters()
        var previousTime = start
        var remaining = workers.count
        let interval = DispatchTimeInterval.nanoseconds(
            Int(configuration.progressInterval.components.seconds) * 1_000_000_000
                + Int(configuration.progressInterval.components.attoseconds / 1_000_000_000))
        while remaining > 0 {
            if finished.wait(timeout: .now() + interval) == .success {
                remaining -= 1
                continue
            }
            guard let progress else { continue }
            let snapshots = workers.compactMap { LoadTest.snapshot(of: $0) }
            guard snapshots.count == workers.count else { continue }
            let now = LoadTest.monotonicNow()
            var counters = LoadTestCounters()
            var latency = LatencySummary.makeHistogram()
            for snapshot in snapshots {
                counters.add(snapshot.counters)
                latency.add(snapshot.intervalLatency)
            }
            let seconds = Swift.max(Double(now &- previousTime) / 1e9, 1e-3)
            progress(LoadTestProgress(
                elapsedSeconds: Double(now &- start) / 1e9, counters: counters,
                handshakesPerSecond: Double(counters.handshakesCompleted - previous.handshakesCompleted) / seconds,
                sharesSentPerSecond: Double(counters.sharesSent - previous.sharesSent) / seconds,
                sharesAcceptedPerSecond: Double(counters.sharesAccepted - previous.sharesAccepted) / seconds,
                sharesRejectedPerSecond: Double(counters.sharesRejected - previous.sharesRejected) / seconds,
                latency: LatencySummary(latency)))
            previous = counters
            previousTime = now
        }
        let end = LoadTest.monotonicNow()
        let snapshots = finals.withLock { $0 }.sorted { $0.key < $1.key }.map(\.value)
        return makeReport(date: date, snapshots: snapshots, totalLatency: workers.map(\.totalLatency),
                          elapsed: Double(end &- start) / 1e9, start: start)
    }

    private func makeReport(date: String, snapshots: [LoadTestWorkerSnapshot], totalLatency: [Histogram<UInt64>],
                            elapsed: Double, start: UInt64) -> LoadTestReport {
        var counters = LoadTestCounters()
        var atRampEnd = LoadTestCounters()
        var atSendEnd = LoadTestCounters()
        var latency = LatencySummary.makeHistogram()
        var lastHandshake: UInt64 = start
        for (snapshot, total) in zip(snapshots, totalLatency) {
            counters.add(snapshot.counters)
            atRampEnd.add(snapshot.marks.atRampEnd ?? LoadTestCounters())
            atSendEnd.add(snapshot.marks.atSendEnd ?? snapshot.counters)
            latency.add(total)
            lastHandshake = Swift.max(lastHandshake, snapshot.marks.lastHandshakeAt)
        }
        let duration = configuration.duration.seconds
        let handshakesPerSecond: Double
        if configuration.handshakeOnly {
            handshakesPerSecond = Double(atSendEnd.handshakesCompleted - atRampEnd.handshakesCompleted) / duration
        } else {
            let span = Double(lastHandshake &- start) / 1e9
            handshakesPerSecond = span > 0 ? Double(counters.handshakesCompleted) / span : 0
        }
        let setup = LoadTestReport.Setup(
            target: "\(configuration.serverAddress)", connections: configuration.connections,
            eventLoops: configuration.eventLoops,
            backend: (configuration.backend ?? ReactorBackend.environmentOverride).map { "\($0)" } ?? "auto",
            noise: configuration.security != .plain, sharesPerSecondPerConnection: configuration.sharesPerSecond,
            sharesInFlight: configuration.sharesInFlight, rampUpSeconds: configuration.rampUp.seconds,
            durationSeconds: duration, handshakeOnly: configuration.handshakeOnly, idle: configuration.idle,
            sourceAddresses: configuration.sourceAddresses.addressCount(
                forConnections: configuration.handshakeOnly ? counters.connectsStarted : configuration.connections),
            channel: configuration.stratumV1 ? "sv1" : configuration.channelKind.rawValue,
            protocol: configuration.stratumV1 ? "sv1" : "sv2")
        var report = LoadTestReport(
            date: date, setup: setup, elapsedSeconds: elapsed, counters: counters,
            handshakesPerSecond: handshakesPerSecond,
            sharesSentPerSecond: Double(atSendEnd.sharesSent - atRampEnd.sharesSent) / duration,
            sharesAcceptedPerSecond: Double(atSendEnd.sharesAccepted - atRampEnd.sharesAccepted) / duration,
            latencyMicroseconds: LatencySummary(latency), nothingLost: .init(passed: false, problems: []))
        report.check()
        return report
    }

    /// Asks `worker`'s loop for a snapshot and waits for it (bounded: a stuck loop yields nil).
    private static func snapshot(of worker: LoadTestWorker) -> LoadTestWorkerSnapshot? {
        let result = Mutex<LoadTestWorkerSnapshot?>(nil)
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(worker)
        worker.loop.execute {
            let snapshot = box.value.takeSnapshot()
            result.withLock { $0 = snapshot }
            done.signal()
        }
        guard done.wait(timeout: .now() + 2) == .success else { return nil }
        return result.withLock { $0 }
    }

    /// Raises the soft open-file limit towards the hard limit (each connection is one descriptor).
    @discardableResult
    public static func raiseFileLimit(toAtLeast wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < rlim_t(wanted) {
            limit.rlim_cur = Swift.min(limit.rlim_max, rlim_t(Swift.max(wanted, 0)))
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// Hands a loop-confined object to its own loop thread (the only thread that touches it).
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
