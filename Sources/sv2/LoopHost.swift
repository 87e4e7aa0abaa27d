import CUring
import Dispatch
import Foundation
import Logging
import Reactor

/// Runs an app's event loop on the main thread until Ctrl-C / SIGTERM or an optional deadline, and prints a
/// status line periodically. Everything the app does happens in `setUp` and its timers, on the loop thread.
enum LoopHost {
    /// Bootstraps logging once (stderr, given level).
    static func bootstrapLogging(level: Logger.Level) {
        // Line-buffered stdout, so app output and stderr log lines interleave in order.
        cshims_line_buffer_stdout()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Raises the soft descriptor limit (RLIMIT_NOFILE) to the hard limit, once, and returns the soft limit now in
    /// force: every connection is a descriptor, and distributions start processes at 1,024.
    static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            let wanted = limit
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 { limit = wanted }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Default `--max-connections`: below the descriptor limit (after raising it), keeping 1/16 of it (at least 64)
    /// for listeners, upstream links, journals and the runtime, and at most 100,000. With connections capped below
    /// the limit, a flood is refused at accept instead of running the process out of descriptors.
    static func defaultMaxConnections() -> Int {
        let limit = raiseDescriptorLimit()
        return Swift.min(100_000, Swift.max(16, limit - Swift.max(64, limit / 16)))
    }

    /// Creates the loop, calls `setUp` on it, runs until stopped; `statusEvery` calls `status` periodically.
    ///
    /// On Ctrl-C, SIGTERM or the deadline, `shutdown` runs on the loop first (an app flushes what it owes its
    /// peers there, e.g. a pool's batched acknowledgements, and closes its services gracefully); then the loop
    /// stops, giving connections `gracePeriod` to drain their writes.
    static func run(
        backend: ReactorBackend?, duration: Double?, statusEvery: Duration? = nil, status: (() -> Void)? = nil,
        gracePeriod: Duration = .seconds(2),
        setUp: @escaping (EventLoop) throws -> Void, shutdown: (() -> Void)? = nil, tearDown: (() -> Void)? = nil
    ) throws {
        _ = raiseDescriptorLimit()
        let loop = try EventLoop(configuration: EventLoopConfiguration(backend: backend))
        let stop = LoopOnly {
            shutdown?()
            loop.stop(gracePeriod: gracePeriod)
        }
        // Signals arrive on a dispatch queue; `execute` is the loop's only cross-thread door.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { loop.execute { stop.body() } }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        // The loop runs on this thread, so setting up here, before `run()`, is setting up on the loop thread.
        try setUp(loop)
        if let duration {
            loop.schedule(after: .milliseconds(Int64(duration * 1000))) { stop.body() }
        }
        if let statusEvery, let status { schedule(status, every: statusEvery, on: loop) }
        try loop.run()
        tearDown?()
    }

    /// Like ``run(backend:duration:statusEvery:status:gracePeriod:setUp:shutdown:tearDown:)`` with `count` loops: loop
    /// 0 runs on this thread, the others on threads of their own. `setUp` gets every loop before any runs (this thread
    /// creates them, so setting up here is allowed). On Ctrl-C, SIGTERM or the deadline, `shutdown(index)` runs on
    /// each loop, which then stops with `gracePeriod` to drain; `status` runs on loop 0; `tearDown` runs once every
    /// loop has returned.
    static func run(
        loops count: Int, backend: ReactorBackend?, duration: Double?, statusEvery: Duration? = nil,
        status: (() -> Void)? = nil, gracePeriod: Duration = .seconds(2),
        setUp: ([EventLoop]) throws -> Void, shutdown: @escaping (Int) -> Void, tearDown: (() -> Void)? = nil
    ) throws {
        _ = raiseDescriptorLimit()
        var loops: [EventLoop] = []
        for _ in 0..<count { loops.append(try EventLoop(configuration: EventLoopConfiguration(backend: backend))) }
        let stops = loops.indices.map { index in
            LoopOnly { [loop = loops[index]] in
                shutdown(index)
                loop.stop(gracePeriod: gracePeriod)
            }
        }
        let stopAll: @Sendable () -> Void = { [loops] in
            for (loop, stop) in zip(loops, stops) { loop.execute { stop.body() } }
        }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stopAll() }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        try setUp(loops)
        if let duration { loops[0].schedule(after: .milliseconds(Int64(duration * 1000))) { stopAll() } }
        if let statusEvery, let status { schedule(status, every: statusEvery, on: loops[0]) }
        let finished = DispatchSemaphore(value: 0)
        let failure = LoopFailures()
        for index in loops.indices.dropFirst() {
            let loop = loops[index]
            let thread = Thread {
                // Foundation on Linux names only the calling thread, so the loop thread names itself (`top -H`, and
                // Benchmarks/multicore.sh finds the loops by this name).
                nameCurrentThread("sv2-loop-\(index)")
                do throws(ReactorError) { try loop.run() } catch { failure.record(error) }
                finished.signal()
            }
            thread.start()
        }
        var mainError: (any Error)?
        do { try loops[0].run() } catch { mainError = error }
        // A loop that failed outright must not leave the others running forever.
        if mainError != nil { stopAll() }
        for _ in loops.indices.dropFirst() { finished.wait() }
        tearDown?()
        if let mainError { throw mainError }
        if let error = failure.first { throw error }
    }

    /// The first error a loop thread's `run()` threw.
    private final class LoopFailures: @unchecked Sendable {
        private let lock = NSLock()
        private var errors: [ReactorError] = []
        func record(_ error: ReactorError) { lock.withLock { errors.append(error) } }
        var first: ReactorError? { lock.withLock { errors.first } }
    }

    /// A closure that is only ever called on the loop thread, handed through `execute` (which wants `Sendable`).
    private final class LoopOnly: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private static func schedule(_ body: @escaping () -> Void, every interval: Duration, on loop: EventLoop) {
        loop.schedule(after: interval) {
            body()
            schedule(body, every: interval, on: loop)
        }
    }
}
