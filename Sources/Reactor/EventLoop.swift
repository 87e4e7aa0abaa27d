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
///   - before ``run()`` starts, the creating thread may call ``listen(on:backlog:onAccept:)``,
///     ``connect(to:from:timeout:handler:completion:)`` and ``schedule(after:_:)`` to set things up.
/// - To stop a loop from another thread: `loop.execute { loop.stop() }`.
/// - Callbacks may call `write`/`close`/`abort` on *any* connection of the same loop. `didCloseWith` is
///   never delivered re-entrantly from inside those calls; it arrives later in the same loop iteration.
/// - Writes are coalesced: bytes written during an iteration are sent with one send per connection at
///   the end of the iteration (earlier once `writeFlushThreshold` bytes are pending).
///
/// The type is `@unchecked Sendable` only so that a reference can be handed to other threads for
/// ``execute(_:)``; nothing else is thread-safe.
public final class EventLoop: @unchecked Sendable {
    /// The configuration the loop was created with (buffer caps, timer resolution, backend choice).
    public let configuration: EventLoopConfiguration
    /// The backend actually in use.
    public let backend: ReactorBackend
    var driver: Driver!
    /// Monotonic time in nanoseconds, cached once per loop iteration.
    public private(set) var now: UInt64
    var timers: TimerWheel
    private var expiredScratch: [(deadline: UInt64, body: () -> Void)] = []
    var connections = SlotTable<Connection>()
    var listeners = SlotTable<Listener>()
    private var dirty: [Connection] = []
    private var dirtyScratch: [Connection] = []
    private var closeNotifications: [Connection] = []
    private var closeScratch: [Connection] = []
    private var deferred: [() -> Void] = []
    private var nextIterationWork: [() -> Void] = []
    private var nextIterationScratch: [() -> Void] = []
    private let incoming = Mutex<[@Sendable () -> Void]>([])
    private var incomingScratch: [@Sendable () -> Void] = []
    let wakeFD: Int32
    private var nextConnectionID: UInt64 = 1
    private(set) var isStopping = false
    private var stopDeadline: UInt64 = 0
    private var isRunning = false
    let writeBufferMinimum: Int
    let logger = Logger(label: "stratum.reactor")
    /// Reactor warnings that can repeat at the kernel's pace (failed accepts) go through this limiter.
    var warningLimiter = LogRateLimiter(linesPerInterval: 10, interval: .seconds(10))
    private var warningSummaryScheduled = false
    /// Loop iterations so far (one per wait for I/O); lets callers spread work "per iteration" (see ``nextIteration(_:)``).
    public private(set) var iteration: UInt64 = 0

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
        var uringDriver: UringDriver?
        if requested != .epoll {
            do throws(ReactorError) {
                uringDriver = try UringDriver(configuration: configuration)
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
        do throws(ReactorError) {
            if let uringDriver {
                uringDriver.loop = self
                driver = .uring(uringDriver)
            } else {
                let epoll = try EpollDriver(configuration: configuration, wakeFD: fd)
                epoll.loop = self
                driver = .epoll(epoll)
            }
        } catch {
            _ = cshims_close(fd)
            throw error
        }
    }

    deinit {
        for listener in listeners.all where !listener.isClosed { _ = cshims_close(listener.fd) }
        for connection in connections.all where !connection.fdClosed { _ = cshims_close(connection.fd) }
        switch driver {
        case .uring(let d): d.destroy()
        case .epoll(let d): d.destroy()
        case nil: break
        }
        _ = cshims_close(wakeFD)
    }

    func refreshNow() { now = EventLoop.monotonicNow() }

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
        defer { isRunning = false }
        switch driver! {
        case .uring(let d): try d.start(wakeFD: wakeFD)
        case .epoll: break
        }
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
            switch driver! {
            case .uring(let d): try d.wait(timeoutNanoseconds: timeout)
            case .epoll(let d): try d.wait(timeoutNanoseconds: timeout)
            }
            deliverCloseNotifications()
            // Work postponed to "the next iteration" runs once the loop has polled for I/O again.
            iteration &+= 1
            runNextIterationWork()
        }
    }

    /// Stops accepting, closes connections after flushing their writes (until `gracePeriod` passes, then
    /// aborts), fails pending connects, and lets ``run()`` return. Idempotent. Loop-thread only.
    public func stop(gracePeriod: Duration = .seconds(2)) {
        guard !isStopping else { return }
        isStopping = true
        if !isRunning { now = EventLoop.monotonicNow() }
        stopDeadline = now &+ gracePeriod.nanoseconds
        for listener in listeners.all { closeListener(listener) }
        for connection in connections.all {
            switch connection.state {
            case .connecting: failConnect(connection, ReactorError(.stopped, context: "connect: loop stopped"))
            case .open: connection.close()
            case .closing, .closed: break
            }
        }
        schedule(after: gracePeriod) { [unowned(unsafe) self] in
            for connection in self.connections.all where connection.state != .closed {
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
        let base = isRunning ? now : EventLoop.monotonicNow()
        return timers.schedule(deadline: base &+ delay.nanoseconds, body)
    }

    /// Cancels a pending timer. O(1); cancelling a fired or cancelled timer is a no-op.
    public func cancel(_ timer: TimerHandle) {
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

    // MARK: Listening and connecting

    /// Listens on `address` (port 0 picks a free port; see ``Listener/localAddress``). For every accepted
    /// connection `onAccept` returns its handler, or nil to refuse (the socket is closed).
    public func listen(on address: SocketAddress, backlog: Int32 = 4096,
                       onAccept: @escaping (Connection) -> (any ConnectionHandler)?) throws(ReactorError) -> Listener {
        guard !isStopping else { throw ReactorError(.stopped, context: "listen \(address)") }
        let fd = address.withSockAddr { cshims_listen($0, $1, backlog) }
        guard fd >= 0 else { throw .system(-fd, "listen \(address)") }
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let local = cshims_sockname(fd, &storage, &length) == 0 ? SocketAddress(storage: &storage) : nil
        let listener = listeners.insert { slot, generation in
            Listener(fd: fd, localAddress: local ?? address, loop: self, slot: slot, generation: generation,
                     onAccept: onAccept)
        }
        do throws(ReactorError) {
            switch driver! {
            case .uring(let d): try d.register(listener)
            case .epoll(let d): try d.register(listener)
            }
        } catch {
            listeners.remove(slot: listener.slot)
            listener.isClosed = true
            _ = cshims_close(fd)
            throw error
        }
        return listener
    }

    func closeListener(_ listener: Listener) {
        guard !listener.isClosed else { return }
        listener.isClosed = true
        switch driver! {
        case .uring(let d): d.unregister(listener)
        case .epoll(let d): d.unregister(listener)
        }
        _ = cshims_close(listener.fd)
        listeners.remove(slot: listener.slot)
    }

    /// Called by the drivers when accepting on `listener` failed with `errno`. When the process (or system) is out of
    /// descriptors or memory, retrying at once would fail again at once: accepting pauses on this listener with a
    /// doubling backoff (`acceptBackoffInitial`…`acceptBackoffMaximum`) and resumes from a timer, so a shortage costs
    /// one failed accept per pause instead of a spinning loop. Returns whether accepting was paused (the driver then
    /// disarms the listener). Warnings go through the rate limiter either way.
    func acceptFailed(_ listener: Listener, errno: Int32) -> Bool {
        let exhausted = errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM
        if exhausted && !listener.isClosed && !isStopping {
            let initial = configuration.acceptBackoffInitial.nanoseconds
            let maximum = configuration.acceptBackoffMaximum.nanoseconds
            listener.acceptBackoff = listener.acceptBackoff == 0 ? initial : Swift.min(listener.acceptBackoff &* 2, maximum)
            listener.acceptPaused = true
            listener.acceptPauses += 1
        }
        warnLimited("accept failed", metadata: [
            "errno": "\(errno)", "listener": "\(listener.localAddress)",
            "paused_ms": "\(listener.acceptPaused ? listener.acceptBackoff / 1_000_000 : 0)",
        ])
        guard listener.acceptPaused else { return false }
        schedule(after: .nanoseconds(Int64(clamping: listener.acceptBackoff))) { [unowned(unsafe) self] in
            guard listener.acceptPaused, !listener.isClosed, !self.isStopping else { return }
            listener.acceptPaused = false
            switch self.driver! {
            case .uring(let d): d.resumeAccepting(listener)
            case .epoll(let d): d.resumeAccepting(listener)
            }
        }
        return true
    }

    /// Logs a reactor warning unless more than the limiter allows came recently; the suppressed ones are summed up in
    /// one line when the limiter's window ends.
    func warnLimited(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata) {
        if warningLimiter.admit(now: now) {
            logger.warning(message(), metadata: metadata())
            return
        }
        guard !warningSummaryScheduled else { return }
        warningSummaryScheduled = true
        let delay = warningLimiter.nanosecondsUntilWindowEnds(now: now)
        schedule(after: .nanoseconds(Int64(clamping: delay))) { [unowned(unsafe) self] in
            self.warningSummaryScheduled = false
            let suppressed = self.warningLimiter.takeSuppressed()
            if suppressed > 0 {
                self.logger.warning("suppressed \(suppressed) similar reactor warnings", metadata: ["suppressed": "\(suppressed)"])
            }
        }
    }

    /// Called by the drivers for every accepted socket.
    func accepted(_ fd: Int32, on listener: Listener) {
        listener.acceptBackoff = 0
        if isStopping || listener.isClosed {
            _ = cshims_close(fd)
            return
        }
        _ = cshims_set_nodelay(fd)
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let remote = (cshims_peername(fd, &storage, &length) == 0 ? SocketAddress(storage: &storage) : nil)
            ?? listener.localAddress
        let connection = makeConnection(fd: fd, remote: remote, state: .open)
        guard let handler = listener.onAccept(connection) else {
            connection.state = .closed
            connection.fdClosed = true
            _ = cshims_close(fd)
            connections.remove(slot: connection.slot)
            return
        }
        connection.handler = handler
        guard connection.state != .closed else { return }
        do throws(ReactorError) {
            switch driver! {
            case .uring(let d): try d.startReading(connection)
            case .epoll(let d): try d.startReading(connection)
            }
        } catch {
            finishClose(connection, reason: .error(error.errno))
        }
    }

    private func makeConnection(fd: Int32, remote: SocketAddress, state: Connection.State) -> Connection {
        let id = nextConnectionID
        nextConnectionID += 1
        return connections.insert { slot, generation in
            Connection(id: id, fd: fd, remoteAddress: remote, loop: self, slot: slot, generation: generation,
                       state: state)
        }
    }

    /// Connects to `address`; `completion` runs on the loop thread with the open connection (now served by
    /// `handler`) or the error (refused, unreachable, ``ReactorError/Kind/timedOut``, stopped). It is never
    /// called from inside `connect` itself.
    ///
    /// `source`, when given, is the local address to bind first (port 0 lets the kernel pick the port per
    /// destination), e.g. one of 127.0.0.0/8 to open more connections to one server than one address has ports.
    public func connect(to address: SocketAddress, from source: SocketAddress? = nil, timeout: Duration,
                        handler: any ConnectionHandler,
                        completion: @escaping (Result<Connection, ReactorError>) -> Void) {
        guard !isStopping else {
            deferred.append { completion(.failure(ReactorError(.stopped, context: "connect \(address)"))) }
            return
        }
        var fd: Int32 = -1
        let result = address.withSockAddr { remote, remoteLength in
            guard let source else { return cshims_connect(remote, remoteLength, &fd) }
            return source.withSockAddr { cshims_connect_from(remote, remoteLength, $0, $1, &fd) }
        }
        if result != 0 && result != -EINPROGRESS {
            if fd >= 0 { _ = cshims_close(fd) }
            let context = source.map { "connect \(address) from \($0)" } ?? "connect \(address)"
            deferred.append { completion(.failure(.system(-result, context))) }
            return
        }
        _ = cshims_set_nodelay(fd)
        let connection = makeConnection(fd: fd, remote: address, state: .connecting)
        connection.handler = handler
        connection.connectCompletion = completion
        connection.connectTimer = schedule(after: timeout) { [unowned(unsafe) self] in
            connection.connectTimer = nil
            self.failConnect(connection, ReactorError(.timedOut, errno: ETIMEDOUT, context: "connect \(address)"))
        }
        do throws(ReactorError) {
            switch driver! {
            case .uring(let d): try d.startConnecting(connection)
            case .epoll(let d): try d.startConnecting(connection)
            }
        } catch {
            failConnect(connection, error)
        }
    }

    /// Called by the drivers when a connecting socket became writable; `error` is its SO_ERROR.
    func connectFinished(_ connection: Connection, error: Int32) {
        guard connection.state == .connecting else { return }
        guard error == 0 else {
            failConnect(connection, .system(error, "connect \(connection.remoteAddress)"))
            return
        }
        if let timer = connection.connectTimer { timers.cancel(timer) }
        connection.connectTimer = nil
        connection.state = .open
        do throws(ReactorError) {
            switch driver! {
            case .uring(let d): try d.startReading(connection)
            case .epoll(let d): try d.connected(connection)
            }
        } catch {
            failConnect(connection, error)
            return
        }
        let completion = connection.connectCompletion
        connection.connectCompletion = nil
        completion?(.success(connection))
    }

    func failConnect(_ connection: Connection, _ error: ReactorError) {
        guard connection.state == .connecting || (connection.state == .open && connection.connectCompletion != nil)
        else { return }
        connection.state = .closed
        if let timer = connection.connectTimer { timers.cancel(timer) }
        connection.connectTimer = nil
        connection.handler = nil
        teardown(connection)
        let completion = connection.connectCompletion
        connection.connectCompletion = nil
        completion?(.failure(error))
        releaseIfDone(connection)
    }

    // MARK: Reading, writing, closing

    /// Hands received bytes to the connection's handler, keeping only a partial frame's leftover.
    func deliver(_ connection: Connection, _ base: UnsafeMutableRawPointer, _ count: Int) {
        guard connection.state == .open, let handler = connection.handler else { return }
        let maxRead = configuration.maxReadBufferSize
        if connection.readBuffer.isEmpty {
            let consumed = handler.connection(connection, didRead: UnsafeMutableRawBufferPointer(start: base, count: count))
            guard connection.state == .open else { return }
            let used = Swift.min(Swift.max(consumed, 0), count)
            let rest = count - used
            guard rest > 0 else { return }
            if rest > maxRead {
                finishClose(connection, reason: .readBufferOverflow)
                return
            }
            connection.readBuffer.append(base + used, rest, minimumCapacity: configuration.initialReadBufferSize)
        } else {
            if connection.readBuffer.readableBytes + count > maxRead {
                finishClose(connection, reason: .readBufferOverflow)
                return
            }
            connection.readBuffer.append(base, count, minimumCapacity: configuration.initialReadBufferSize)
            let available = connection.readBuffer.readableBytes
            let consumed = handler.connection(connection, didRead: connection.readBuffer.readable)
            guard connection.state == .open else { return }
            connection.readBuffer.consume(Swift.min(Swift.max(consumed, 0), available))
            // Only partial frames need this buffer; idle connections should not keep one.
            connection.readBuffer.shrinkIfEmpty(keep: 0)
        }
    }

    /// The peer sent FIN: flush what is pending (a reply to its last request), then close.
    func peerClosed(_ connection: Connection) {
        switch connection.state {
        case .open:
            if connection.writeBuffer.isEmpty && connection.sendInFlight == 0 {
                finishClose(connection, reason: .peerClosed)
            } else {
                connection.state = .closing
                connection.closeReason = .peerClosed
                markDirty(connection)
                connection.closeTimer = schedule(after: configuration.closeFlushTimeout) { [unowned(unsafe) self] in
                    connection.closeTimer = nil
                    self.finishClose(connection, reason: .timedOut)
                }
            }
        case .closing:
            // Nobody will read what is left; when a close() is pending the peer is gone anyway.
            if connection.closeReason == nil { connection.closeReason = .peerClosed }
        case .connecting, .closed:
            break
        }
    }

    func markDirty(_ connection: Connection) {
        if !connection.isDirty {
            connection.isDirty = true
            dirty.append(connection)
        }
        if connection.writeBuffer.readableBytes >= configuration.writeFlushThreshold {
            flush(connection)
        }
    }

    private func flushDirty() {
        while !dirty.isEmpty {
            swap(&dirty, &dirtyScratch)
            for connection in dirtyScratch {
                connection.isDirty = false
                flush(connection)
            }
            dirtyScratch.removeAll(keepingCapacity: true)
        }
    }

    func flush(_ connection: Connection) {
        guard connection.state == .open || connection.state == .closing else { return }
        switch driver! {
        case .uring(let d): d.flush(connection)
        case .epoll(let d): d.flush(connection)
        }
    }

    /// Closes the socket now and queues the `didCloseWith` notification.
    func finishClose(_ connection: Connection, reason: CloseReason) {
        guard connection.state != .closed else { return }
        if connection.state == .connecting {
            failConnect(connection, ReactorError(.stopped, context: "connect \(connection.remoteAddress): closed"))
            return
        }
        let finalReason = reason == .closedLocally ? (connection.closeReason ?? reason) : reason
        connection.state = .closed
        connection.closeReason = finalReason
        if let timer = connection.closeTimer { timers.cancel(timer) }
        connection.closeTimer = nil
        teardown(connection)
        closeNotifications.append(connection)
        releaseIfDone(connection)
    }

    private func teardown(_ connection: Connection) {
        switch driver! {
        case .uring(let d): d.teardown(connection)
        case .epoll(let d): d.teardown(connection)
        }
    }

    /// Frees the connection's slot once no kernel operation references it any more.
    func releaseIfDone(_ connection: Connection) {
        guard connection.state == .closed, connection.pendingOperations == 0,
              connections.lookup(slot: connection.slot, generation: connection.generation) === connection
        else { return }
        connections.remove(slot: connection.slot)
    }

    private func deliverCloseNotifications() {
        while !closeNotifications.isEmpty {
            swap(&closeNotifications, &closeScratch)
            for connection in closeScratch {
                let handler = connection.handler
                connection.handler = nil
                handler?.connection(connection, didCloseWith: connection.closeReason ?? .closedLocally)
            }
            closeScratch.removeAll(keepingCapacity: true)
        }
    }
}
