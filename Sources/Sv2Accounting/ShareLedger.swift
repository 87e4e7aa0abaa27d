import Foundation
import Reactor
public import Logging
public import Sv2Pool

/// The pool's share ledger: takes closed windows from the `Pool` on its loop thread (``record(_:)``, never
/// blocking), commits them to a ``LedgerStore`` on a writer thread of its own, and reports each commit back so the
/// pool acknowledges exactly the shares that are durable.
///
/// The hand-off is a bounded queue of ``capacity`` windows (a window still being written counts): when it is full
/// ``record(_:)`` returns `false` and the pool refuses shares (`accounting-backlog`) instead of acknowledging
/// unrecorded work. When the writer falls behind it commits everything queued in one transaction (group commit),
/// so a slow disk costs latency, not throughput. A failing commit (disk full, database locked) is logged and
/// retried with the same windows after a short pause; nothing is dropped.
///
/// Several pools (the loops of a multi-core pool, `PoolCluster`) share one ledger through ports: ``makePort()``
/// returns a ``Port``, a `PoolLedger` of its own with its own window sequence and commit handler, feeding the same
/// queue and writer. The ledger itself is port 0. Windows from all ports are committed in the order they were
/// queued, and each port is told about its own windows only.
///
/// ```swift
/// let ledger = ShareLedger(store: try SQLiteLedgerStore(path: "sv2-data/accounting.sqlite"))
/// ledger.start()
/// service.pool.ledger = ledger
/// ```
public final class ShareLedger: PoolLedger, @unchecked Sendable {
    /// Windows the queue holds at most (default 64: ~13 s of 200 ms windows).
    public let capacity: Int
    /// How long the writer waits before retrying a failed commit.
    public let retryDelay: Duration
    private let store: any LedgerStore
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [ShareWindow] = []
    /// The port of each queued window (parallel to `queue`).
    private var queuePorts: [Int] = []
    /// Per port (index 0: the ledger itself): the newest committed window sequence and the commit handler.
    private var ports: [(committed: UInt64, handler: (@Sendable (UInt64) -> Void)?)] = [(0, nil)]
    private var running = false
    private var stopping = false
    private var finished = true
    private var counters = ShareLedgerStatistics()

    /// Creates a ledger writing to `store` (call ``start()`` before the pool closes its first window).
    public init(
        store: any LedgerStore, capacity: Int = 64, retryDelay: Duration = .milliseconds(500),
        logger: Logger = Logger(label: "stratum.accounting")
    ) {
        precondition(capacity >= 1, "ShareLedger capacity must be at least 1")
        self.store = store
        self.capacity = capacity
        self.retryDelay = retryDelay
        self.logger = logger
        queue.reserveCapacity(capacity)
    }

    /// Starts the writer thread (idempotent).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !running else { return }
        running = true
        stopping = false
        finished = false
        let thread = Thread { [self] in
            // Named from inside: Foundation on Linux does not apply `Thread.name` set before `start()`.
            nameCurrentThread("sv2-accounting")
            writerLoop()
        }
        thread.start()
    }

    /// Commits what is queued, then stops the writer; waits at most `timeout`. `true` if everything was committed.
    @discardableResult
    public func stop(timeout: Duration = .seconds(10)) -> Bool {
        let deadline = Date().addingTimeInterval(Self.seconds(timeout))
        condition.lock()
        defer { condition.unlock() }
        guard running else { return queue.isEmpty }
        stopping = true
        condition.broadcast()
        while !finished, condition.wait(until: deadline) {}
        if finished { running = false }
        return finished && queue.isEmpty
    }

    // MARK: PoolLedger

    public func record(_ window: ShareWindow) -> Bool { record(window, port: 0) }

    fileprivate func record(_ window: ShareWindow, port: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard queue.count < capacity, !stopping else {
            counters.refusedWindows &+= 1
            return false
        }
        queue.append(window)
        queuePorts.append(port)
        counters.queuedWindows &+= 1
        condition.broadcast()
        return true
    }

    public func setCommitHandler(_ handler: @escaping @Sendable (UInt64) -> Void) { setCommitHandler(handler, port: 0) }

    public func waitUntilCommitted(_ sequence: UInt64, timeout: Duration) -> Bool {
        waitUntilCommitted(sequence, timeout: timeout, port: 0)
    }

    fileprivate func setCommitHandler(_ handler: @escaping @Sendable (UInt64) -> Void, port: Int) {
        condition.lock()
        ports[port].handler = handler
        condition.unlock()
    }

    fileprivate func waitUntilCommitted(_ sequence: UInt64, timeout: Duration, port: Int) -> Bool {
        let deadline = Date().addingTimeInterval(Self.seconds(timeout))
        condition.lock()
        defer { condition.unlock() }
        while ports[port].committed < sequence, condition.wait(until: deadline) {}
        return ports[port].committed >= sequence
    }

    // MARK: Ports

    /// Another pool's way into this ledger (one per loop of a multi-core pool): its windows join the same queue
    /// (and count against the same ``capacity``) and the same writer; its commits are reported to its own handler,
    /// by its own window sequence. Any thread; ports live as long as the ledger.
    public func makePort() -> Port {
        condition.lock()
        defer { condition.unlock() }
        ports.append((0, nil))
        return Port(ledger: self, index: ports.count - 1)
    }

    /// A `PoolLedger` feeding a ``ShareLedger`` shared with other pools (see ``makePort()``).
    public final class Port: PoolLedger, @unchecked Sendable {
        /// The ledger behind this port.
        public let ledger: ShareLedger
        /// This port's number (0 is the ledger's own).
        public let index: Int

        fileprivate init(ledger: ShareLedger, index: Int) {
            self.ledger = ledger
            self.index = index
        }

        public func record(_ window: ShareWindow) -> Bool { ledger.record(window, port: index) }

        public func setCommitHandler(_ handler: @escaping @Sendable (UInt64) -> Void) {
            ledger.setCommitHandler(handler, port: index)
        }

        public func waitUntilCommitted(_ sequence: UInt64, timeout: Duration) -> Bool {
            ledger.waitUntilCommitted(sequence, timeout: timeout, port: index)
        }
    }

    // MARK: Inspection

    /// A snapshot of the counters, queue depth and lag (any thread).
    public var statistics: ShareLedgerStatistics {
        condition.lock()
        defer { condition.unlock() }
        var snapshot = counters
        snapshot.queueDepth = queue.count
        snapshot.committedSequence = ports[0].committed
        if let oldest = queue.first {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            snapshot.lagSeconds = now > oldest.endMilliseconds ? Double(now - oldest.endMilliseconds) / 1000 : 0
        }
        return snapshot
    }

    // MARK: Writer

    private func writerLoop() {
        while true {
            condition.lock()
            while queue.isEmpty, !stopping { condition.wait() }
            if queue.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            // At most 256 windows per transaction (~50 s of windows): a bounded transaction after a long stall.
            let batch = queue[..<Swift.min(queue.count, 256)]
            condition.unlock()

            let started = ContinuousClock.now
            do throws(AccountingError) {
                try store.commit(batch)
            } catch {
                condition.lock()
                counters.failedCommits &+= 1
                condition.unlock()
                logger.error("accounting: commit of \(batch.count) windows failed (retrying): \(error)")
                Thread.sleep(forTimeInterval: Self.seconds(retryDelay))
                continue
            }
            let elapsed = Self.seconds(ContinuousClock.now - started)
            condition.lock()
            // Each port learns the newest of its own windows in the batch (a port's windows are queued in order).
            var reports: [(handler: @Sendable (UInt64) -> Void, sequence: UInt64)] = []
            var newest = [UInt64?](repeating: nil, count: ports.count)
            for (window, port) in zip(batch, queuePorts) { newest[port] = window.sequence }
            for (port, sequence) in newest.enumerated() {
                guard let sequence else { continue }
                ports[port].committed = sequence
                if let handler = ports[port].handler { reports.append((handler, sequence)) }
            }
            queue.removeFirst(batch.count)
            queuePorts.removeFirst(batch.count)
            counters.committedThroughMilliseconds = batch.last!.endMilliseconds
            counters.commits &+= 1
            counters.committedWindows &+= UInt64(batch.count)
            counters.committedRows &+= UInt64(batch.reduce(0) { $0 + $1.rows.count })
            counters.lastCommitSeconds = elapsed
            condition.broadcast()
            condition.unlock()
            for report in reports { report.handler(report.sequence) }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (whole, fraction) = duration.components
        return Double(whole) + Double(fraction) / 1e18
    }
}

/// Counters of a ``ShareLedger`` (a snapshot).
public struct ShareLedgerStatistics: Sendable, Hashable {
    /// Windows taken into the queue.
    public var queuedWindows: UInt64 = 0
    /// Windows refused because the queue was full (the pool then refuses shares).
    public var refusedWindows: UInt64 = 0
    /// Transactions committed (each holds one or more windows).
    public var commits: UInt64 = 0
    /// Windows committed.
    public var committedWindows: UInt64 = 0
    /// Window rows committed.
    public var committedRows: UInt64 = 0
    /// Commits that failed (and were retried).
    public var failedCommits: UInt64 = 0
    /// Duration of the latest commit, seconds.
    public var lastCommitSeconds: Double = 0
    /// Windows queued or being written now.
    public var queueDepth = 0
    /// The newest committed window's sequence.
    public var committedSequence: UInt64 = 0
    /// The newest committed window's close time (Unix ms).
    public var committedThroughMilliseconds: UInt64 = 0
    /// Age of the oldest uncommitted window, seconds (0 when the queue is empty): how far the ledger lags.
    public var lagSeconds: Double = 0

    /// Creates zeroed counters.
    public init() {}
}
