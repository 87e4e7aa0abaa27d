import CUring
import Glibc
import Logging
import Synchronization

/// A single-threaded reactor: sockets, timers and cross-thread tasks, driven by io_uring or epoll.
///
/// ## Threading contract
/// - An `EventLoop` belongs to the thread that calls ``run()``. Every API of `EventLoop`, ``Connection``,
///   ``Listener`` and every ``ConnectionHandler`` / timer / completion callback is **loop-thread only**,
///   with two exceptions:
///   - ``execute(_:)`` may be called from any thread at any time (it wakes the loop through an eventfd), and so may
///     ``tryExecute(_:)`` (bounded by `maxPendingTasks`: producers of streams of work use it and back off when it
///     refuses) and ``pendingTaskCount``;
///   - before ``run()`` starts, the creating thread may call ``listen(on:backlog:reusePort:onAccept:)``,
///     ``connect(to:from:timeout:handler:completion:)`` and ``schedule(after:_:)`` to set things up.
/// - To stop a loop from another thread: `loop.execute { loop.stop() }`.
/// - Callbacks may call `write`/`close`/`abort` on *any* connection of the same loop. `didCloseWith` is
///   never delivered re-entrantly from inside those calls; it arrives later in the same loop iteration.
/// - Writes are coalesced: bytes written during an iteration are sent with one send per connection at
///   the end of the iteration (earlier once `writeFlushThreshold` bytes are pending, and before the iteration's
///   newly accepted connections are handled).
/// - Reading can be paused per connection (``pauseReading(_:)``) or loop-wide (``pauseReadingAll()``): the peer's
///   bytes then stay in the kernel (TCP flow control pushes back) and nothing is delivered until resumed.
/// - Debug builds check the contract: every loop-thread-only API calls ``assertInLoop(file:line:)``.
///
/// ## Structure
/// The loop owns the objects (``Connection``, ``Listener``), their lifecycles and buffers. The backend (io_uring or
/// epoll, see `IOBackend`) only does I/O: the loop asks it to start or stop operations on a descriptor it lends,
/// and its `wait` fills `IOEvent`s into a buffer the loop owns; the loop then acts on them (`handleEvents`).
///
/// The type is `@unchecked Sendable` only so that a reference can be handed to other threads for
/// ``execute(_:)``; nothing else is thread-safe.
public final class EventLoop: @unchecked Sendable {
    /// The configuration the loop was created with (buffer caps, timer resolution, backend choice).
    public let configuration: EventLoopConfiguration
    /// The backend actually in use.
    public let backend: ReactorBackend
    let io: Backend
    /// Filled by the backend's `wait`, drained by the loop in the same iteration.
    var events = IOEventBuffer(capacity: 1024)
    /// Monotonic time in nanoseconds, cached once per loop iteration.
    public private(set) var now: UInt64
    var timers: TimerWheel
    private var expiredScratch: [(deadline: UInt64, body: () -> Void)] = []
    var connections = SlotTable<Connection>()
    var listeners = SlotTable<Listener>()
    // Appended to for every connection written in an iteration; loop-thread only, and `flushDirty` swaps the two
    // before iterating, so no access overlaps one that appends (see `Connection.writeBuffer` for why unchecked).
    @exclusivity(unchecked) var dirty: [Connection] = []
    @exclusivity(unchecked) var dirtyScratch: [Connection] = []
    var closeNotifications: [Connection] = []
    var closeScratch: [Connection] = []
    var deferred: [() -> Void] = []
    private var nextIterationWork: [() -> Void] = []
    private var nextIterationScratch: [() -> Void] = []
    private let incoming = Mutex<[@Sendable () -> Void]>([])
    private var incomingScratch: [@Sendable () -> Void] = []
    let wakeFD: Int32
    var nextConnectionID: UInt64 = 1
    private(set) var isStopping = false
    private var stopDeadline: UInt64 = 0
    private var isRunning = false
    /// The thread inside ``run()`` (its `pthread_t`), 0 while the loop is not running.
    private let runningThread = Atomic<UInt>(0)
    /// ``pauseReadingAll()`` is in effect: connections opened meanwhile start paused too.
    var readingPausedLoopWide = false
    let writeBufferMinimum: Int
    let logger = Logger(label: "stratum.reactor")
    /// Reactor warnings that can repeat at the kernel's pace (failed accepts) go through this limiter.
    var warningLimiter = LogRateLimiter(linesPerInterval: 10, interval: .seconds(10))
    var warningSummaryScheduled = false
    /// Loop iterations so far (one per wait for I/O); lets callers spread work "per iteration" (see ``nextIteration(_:)``).
    public private(set) var iteration: UInt64 = 0
    /// What the backend did so far (diagnostics: batch sizes, accepts ahead of reads, re-arms, wake-ups).
    var backendCounters: BackendCounters { io.counters }

    private static let fallbackLogged = Atomic<Bool>(false)

    /// Creates a loop (it does not run until ``run()`` is called).
    public init(configuration: EventLoopConfiguration = .init()) throws(ReactorError) {
        try configuration.validate()
        self.configuration = configuration
        now = EventLoop.monotonicNow()
        timers = TimerWheel(slots: configuration.timerWheelSlots,
                            resolutionNanoseconds: configuration.timerResolution.nanoseconds, origin: now)
        writeBufferMinimum = Swift.min(4096, configuration.initialReadBufferSize)
        let fd = cshims_eventfd()
        guard fd >= 0 else { throw .system(-fd, "eventfd") }
        wakeFD = fd

        let requested = ReactorBackend.environmentOverride ?? configuration.backend
        var chosen = ReactorBackend.epoll
        var uringBackend: UringBackend?
        if requested != .epoll {
            do throws(ReactorError) {
                uringBackend = try UringBackend(configuration: configuration, wakeFD: fd)
                chosen = .ioUring
            } catch {
                if requested == .ioUring {
                    _ = cshims_close(fd)
                    throw ReactorError(.backendUnavailable, errno: error.errno, context: "io_uring: \(error.context)")
                }
                if !EventLoop.fallbackLogged.exchange(true, ordering: .relaxed) {
                    logger.warning("io_uring unavailable, falling back to epoll", metadata: ["error": "\(error)"])
                }
            }
        }
        backend = chosen
        if let uringBackend {
            io = .uring(uringBackend)
        } else {
            do throws(ReactorError) {
                io = .epoll(try EpollBackend(configuration: configuration, wakeFD: fd))
            } catch {
                _ = cshims_close(fd)
                throw error
            }
        }
    }

    deinit {
        // Objects may outlive the loop (handlers keep connections): their sockets go with the loop.
        for listener in listeners.all { listener.descriptor.take()?.close() }
        for connection in connections.all { connection.descriptor.take()?.close() }
        io.destroy()
        _ = cshims_close(wakeFD)
    }

    /// Traps (debug builds only) unless called on the thread running this loop. Every loop-thread-only API calls it;
    /// code built on the loop can too (``LoopBound`` does). While the loop is not running (before ``run()``, after it
    /// returned) the loop is not shared and any one thread may set it up, so the check passes. Plain getters
    /// (`now`, `iteration`, ``Connection/isOpen``, ``Connection/pendingWriteBytes``) do not check: tests read them
    /// while the loop thread is parked.
    @inline(__always)
    public func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        let owner = runningThread.load(ordering: .relaxed)
        assert(owner == 0 || owner == UInt(pthread_self()),
               "EventLoop: loop-thread-only API called from another thread (use execute)", file: file, line: line)
        #endif
    }

    /// Blocks the loop thread in `wait` and lets one other thread use the loop meanwhile (its loop-thread-only calls
    /// pass ``assertInLoop(file:line:)``): for harnesses that inspect a running loop synchronously (park it, look, resume it).
    /// Sound only because the loop thread does nothing until `wait` returns; whoever makes `wait` return must be done
    /// with the loop first (a semaphore gives that ordering). Loop-thread only.
    public func parkThread(in wait: () -> Void) {
        assertInLoop()
        let owner = runningThread.exchange(0, ordering: .relaxed)
        wait()
        runningThread.store(owner, ordering: .relaxed)
    }

    /// Whether the calling thread is the one running this loop (false while it is not running).
    public var inLoop: Bool { runningThread.load(ordering: .relaxed) == UInt(pthread_self()) }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    // MARK: Running

    /// Runs the loop on the calling thread until ``stop(gracePeriod:)`` has finished draining.
    public func run() throws(ReactorError) {
        guard !isRunning else { throw ReactorError(.stopped, context: "run: loop is already running") }
        isRunning = true
        runningThread.store(UInt(pthread_self()), ordering: .relaxed)
        defer {
            isRunning = false
            runningThread.store(0, ordering: .relaxed)
        }
        try io.start()
        while true {
            now = EventLoop.monotonicNow()
            fireTimers()
            drainIncoming()
            runDeferred()
            flushDirty()
            deliverCloseNotifications()
            if !dirty.isEmpty || !deferred.isEmpty { continue }
            if isStopping {
                if connections.count == 0 { break }
                // Kernel operations that refuse to finish must not keep the process alive forever.
                if now > stopDeadline &+ 1_000_000_000 { break }
            }
            var timeout: UInt64? = timers.nanosecondsUntilNextTick(now: now)
            if !nextIterationWork.isEmpty || incoming.withLock({ !$0.isEmpty }) { timeout = 0 }
            try io.wait(timeoutNanoseconds: timeout, into: &events)
            now = EventLoop.monotonicNow()
            handleEvents()
            deliverCloseNotifications()
            // Work postponed to "the next iteration" runs once the loop has polled for I/O again.
            iteration &+= 1
            runNextIterationWork()
        }
    }

    /// Stops accepting, closes connections after flushing their writes (until `gracePeriod` passes, then
    /// aborts), fails pending connects, and lets ``run()`` return. Idempotent. Loop-thread only.
    public func stop(gracePeriod: Duration = .seconds(2)) {
        assertInLoop()
        guard !isStopping else { return }
        isStopping = true
        if !isRunning { now = EventLoop.monotonicNow() }
        stopDeadline = now &+ gracePeriod.nanoseconds
        for listener in listeners.all { closeListener(listener) }
        for connection in connections.all {
            switch connection.lifecycle {
            case .connecting: failConnect(connection, ReactorError(.stopped, context: "connect: loop stopped"))
            case .open: connection.close()
            case .closing, .closed: break
            }
        }
        schedule(after: gracePeriod) { [unowned(unsafe) self] in
            for connection in self.connections.all where !connection.lifecycle.isClosed {
                self.finishClose(connection, reason: .timedOut)
            }
        }
    }

    /// Runs `work` on the loop thread soon. Safe from any thread. Unbounded: for control messages (stop, setup,
    /// configuration); producers of a stream of work use ``tryExecute(_:)`` and back off when it refuses.
    public nonisolated func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = incoming.withLock { queue in
            let empty = queue.isEmpty
            queue.append(work)
            return empty
        }
        if wasEmpty { _ = cshims_eventfd_signal(wakeFD) }
    }

    /// Like ``execute(_:)``, but refuses (returns false, `work` is dropped) while `maxPendingTasks` tasks from other
    /// threads are already waiting: the loop is behind, and the producer should keep its work (or only the best of
    /// it) and try again later instead of queueing without bound. Safe from any thread.
    public nonisolated func tryExecute(_ work: @escaping @Sendable () -> Void) -> Bool {
        let limit = configuration.maxPendingTasks
        let outcome: Bool? = incoming.withLock { queue in
            guard queue.count < limit else { return nil }
            let empty = queue.isEmpty
            queue.append(work)
            return empty
        }
        guard let wasEmpty = outcome else { return false }
        if wasEmpty { _ = cshims_eventfd_signal(wakeFD) }
        return true
    }

    /// Tasks handed over from other threads and not yet run (a snapshot; safe from any thread).
    public nonisolated var pendingTaskCount: Int { incoming.withLock { $0.count } }

    /// Runs `body` on the loop thread in the next iteration, after the loop has polled for I/O once more: for work
    /// that must be spread over iterations so that it cannot starve I/O (e.g. a bounded number of handshakes per
    /// iteration). Loop-thread only.
    public func nextIteration(_ body: @escaping () -> Void) {
        assertInLoop()
        nextIterationWork.append(body)
    }

    private func runNextIterationWork() {
        guard !nextIterationWork.isEmpty else { return }
        swap(&nextIterationWork, &nextIterationScratch)
        for body in nextIterationScratch { body() }
        nextIterationScratch.removeAll(keepingCapacity: true)
    }

    private func drainIncoming() {
        incoming.withLock { swap(&$0, &incomingScratch) }
        guard !incomingScratch.isEmpty else { return }
        for work in incomingScratch { work() }
        incomingScratch.removeAll(keepingCapacity: true)
    }

    private func runDeferred() {
        guard !deferred.isEmpty else { return }
        let work = deferred
        deferred.removeAll(keepingCapacity: true)
        for body in work { body() }
    }

    // MARK: Timers

    /// Runs `body` on the loop thread after `delay` (never earlier; at most about one `timerResolution`
    /// later). O(1).
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping () -> Void) -> TimerHandle {
        assertInLoop()
        let base = isRunning ? now : EventLoop.monotonicNow()
        return timers.schedule(deadline: base &+ delay.nanoseconds, body)
    }

    /// Cancels a pending timer. O(1); cancelling a fired or cancelled timer is a no-op.
    public func cancel(_ timer: TimerHandle) {
        assertInLoop()
        timers.cancel(timer)
    }

    private func fireTimers() {
        guard timers.count > 0 else { return }
        var batch = expiredScratch
        expiredScratch = []
        timers.collectExpired(now: now, into: &batch)
        for entry in batch { entry.body() }
        batch.removeAll(keepingCapacity: true)
        expiredScratch = batch
    }
}
