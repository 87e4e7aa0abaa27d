public import Reactor
import CCrypto
import Glibc
import Synchronization
import Sv2Bitcoin
import Sv2Mining

/// Hashes block headers on N worker threads and hands every header that meets the work's target to the event
/// loop.
///
/// Threading: `start`, `setWork`, `stop` and the `onShare` callback run on the loop thread. Workers only read
/// the current work (lock-protected, fetched when the atomic generation counter moves) and post found shares to a
/// bounded mailbox that one task at a time (`eventLoop.tryExecute {}`) drains on the loop — the loop never has more
/// than one miner task queued; while it is behind, the mailbox keeps the best shares and, in a quota of their own,
/// every block (delivered first). A worker checks the generation every `chunkSize` nonces, so new work (e.g. after
/// `SetNewPrevHash`) replaces stale work within milliseconds.
///
/// Search order per work item: each worker owns a disjoint nonce range (`nonceSpan` nonces at `worker ·
/// nonceSpan`); when its range is exhausted it rolls the BIP320 version bits the job allows, then (extended
/// channels) the extranonce, then `ntime`. All workers walk the same version/extranonce sequence, so their
/// headers never overlap.
public final class CPUMiner {
    /// The loop found shares are delivered on.
    public let eventLoop: EventLoop
    /// The configuration it was created with.
    public let configuration: CPUMinerConfiguration
    private let board: Board
    private var threads: [WorkerThread] = []

    /// Creates a miner; no thread runs until `start()`.
    ///
    /// - Parameter onShare: called on the loop thread for every header meeting the work's scan target. Shares of
    ///   an older generation may still arrive after `setWork`; compare `FoundShare.generation` or the job.
    public init(
        configuration: CPUMinerConfiguration, eventLoop: EventLoop, onShare: @escaping (FoundShare) -> Void
    ) throws(CPUMinerError) {
        try configuration.validate()
        self.configuration = configuration
        self.eventLoop = eventLoop
        board = Board(
            workerCount: configuration.workerCount, maxQueued: configuration.maxQueuedShares, eventLoop: eventLoop,
            sink: LoopBound(onShare, on: eventLoop))
    }

    deinit { stop() }

    /// Starts the worker threads (idle until `setWork`). Loop thread only.
    public func start() throws(CPUMinerError) {
        guard threads.isEmpty else { return }
        for index in 0..<configuration.workerCount {
            let worker = Worker(index: index, configuration: configuration, board: board)
            threads.append(try WorkerThread { worker.run() })
        }
    }

    /// Replaces the work every worker hashes (`nil`: idle). Loop thread only.
    public func setWork(_ work: MiningWork?) {
        // The counter moves only under the lock, together with the work: a worker that sees a new value and then
        // takes the lock always reads the matching work.
        board.current.withLock { $0 = (board.generation.add(1, ordering: .releasing).newValue, work) }
    }

    /// Stops and joins the workers. Shares still waiting for the loop are discarded (counted in ``droppedShares``): a
    /// stopped miner submits nothing more. Blocks already found are still delivered afterwards.
    public func stop() {
        guard !threads.isEmpty else { return }
        board.stopping.store(true, ordering: .releasing)
        board.current.withLock { $0 = (board.generation.add(1, ordering: .releasing).newValue, nil) }
        for thread in threads { thread.join() }
        threads.removeAll()
        let discarded = board.mailbox.withLock { box in
            defer {
                box.shares.removeAll()
                box.worst = nil
            }
            return box.shares.count
        }
        board.dropped.add(UInt64(discarded), ordering: .relaxed)
    }

    /// The generation of the current work (incremented by every `setWork`).
    public var generation: UInt64 { board.generation.load(ordering: .acquiring) }

    /// Headers hashed since creation, all workers together. Any thread.
    public var totalHashes: UInt64 {
        board.counters.reduce(0) { $0 &+ $1.hashes.load(ordering: .relaxed) }
    }

    /// Headers hashed by each worker (to check the split is even).
    public var hashesPerWorker: [UInt64] { board.counters.map { $0.hashes.load(ordering: .relaxed) } }

    /// Shares not delivered because ``CPUMinerConfiguration/maxQueuedShares`` better ones were already waiting for the
    /// loop (never blocks: they have a quota of their own).
    public var droppedShares: UInt64 { board.dropped.load(ordering: .relaxed) }

    /// Headers the workers found that also meet the network target, delivered or not. Any thread.
    public var blocksFound: UInt64 { board.blocksFound.load(ordering: .relaxed) }

    /// Blocks dropped because ``CPUMinerConfiguration/maxQueuedShares`` other blocks were already waiting for the
    /// loop (only conceivable at a test network's target with a stalled loop). Any thread.
    public var droppedBlocks: UInt64 { board.droppedBlocks.load(ordering: .relaxed) }

    /// Whether the worker threads are running.
    public var isRunning: Bool { !threads.isEmpty }
}

extension CPUMiner {
    /// What workers and the loop share.
    fileprivate final class Board: Sendable {
        let generation = Atomic<UInt64>(0)
        let stopping = Atomic<Bool>(false)
        let current = Mutex<(generation: UInt64, work: MiningWork?)>((0, nil))
        let counters: [HashCounter]
        let eventLoop: EventLoop
        let sink: LoopBound<(FoundShare) -> Void>
        let maxQueued: Int
        let dropped = Atomic<UInt64>(0)
        let droppedBlocks = Atomic<UInt64>(0)
        let blocksFound = Atomic<UInt64>(0)
        /// Found shares and blocks waiting for the loop, and whether a drain task is already on its way there.
        let mailbox = Mutex<Mailbox>(Mailbox())

        /// At most one drain task per miner is ever queued on the loop: while the loop is behind, shares collect here
        /// instead of as thousands of tasks in front of everything else the loop has to do.
        struct Mailbox {
            /// Blocks have a quota of their own (`maxQueued`, first come), so ordinary shares never crowd one out.
            var blocks: [FoundShare] = []
            /// Ordinary shares: the best `maxQueued` found since the last drain.
            var shares: [FoundShare] = []
            var drainQueued = false
            /// Index of the worst (highest-hash) share in `shares`, once it is full.
            var worst: Int?
        }

        init(workerCount: Int, maxQueued: Int, eventLoop: EventLoop, sink: LoopBound<(FoundShare) -> Void>) {
            counters = (0..<workerCount).map { _ in HashCounter() }
            self.maxQueued = maxQueued
            self.eventLoop = eventLoop
            self.sink = sink
        }

        /// Worker side. While `maxQueued` shares already wait, only better ones get in (each replaces the waiting
        /// share with the highest hash): the loop gets the best shares found meanwhile, not the first. Blocks wait in
        /// a quota of their own and are delivered first; one is dropped only when `maxQueued` blocks already wait.
        func deliver(_ found: FoundShare) {
            let isBlock = found.isBlock
            if isBlock { blocksFound.add(1, ordering: .relaxed) }
            let post: Bool = mailbox.withLock { box in
                if isBlock {
                    // Still bounded (a stalled loop must not grow the mailbox forever), but only by other blocks: at a
                    // real network target this many blocks never wait at once.
                    if box.blocks.count < maxQueued { box.blocks.append(found) } else { droppedBlocks.add(1, ordering: .relaxed) }
                } else if box.shares.count < maxQueued {
                    box.shares.append(found)
                } else {
                    let worst = box.worst ?? Self.worst(box.shares)
                    if found.hash.numericValue < box.shares[worst].hash.numericValue {
                        box.shares[worst] = found
                        box.worst = Self.worst(box.shares)
                    } else {
                        box.worst = worst
                    }
                    dropped.add(1, ordering: .relaxed)
                }
                guard !box.drainQueued else { return false }
                box.drainQueued = true
                return true
            }
            guard post else { return }
            let drain: @Sendable () -> Void = { [self] in
                var blocks: [FoundShare] = []
                var shares: [FoundShare] = []
                mailbox.withLock { box in
                    swap(&blocks, &box.blocks)
                    swap(&shares, &box.shares)
                    box.worst = nil
                    box.drainQueued = false
                }
                for block in blocks { sink.value(block) }
                for share in shares { sink.value(share) }
            }
            // The loop's queue is bounded: when it refuses, the next share found retries (the mailbox keeps the best
            // meanwhile) — unless a block waits, which must not: control-class `execute` then.
            if !eventLoop.tryExecute(drain) {
                let hasBlock = mailbox.withLock { box in
                    if box.blocks.isEmpty { box.drainQueued = false }
                    return !box.blocks.isEmpty
                }
                if hasBlock { eventLoop.execute(drain) }
            }
        }

        /// Index of the share with the highest hash (`shares` is not empty).
        private static func worst(_ shares: [FoundShare]) -> Int {
            var worst = 0
            for index in shares.indices.dropFirst()
            where shares[index].hash.numericValue > shares[worst].hash.numericValue {
                worst = index
            }
            return worst
        }
    }

    fileprivate final class HashCounter: Sendable {
        let hashes = Atomic<UInt64>(0)
    }

    /// One worker's search loop (runs on its own thread; touches only the board and its own buffers).
    fileprivate struct Worker: Sendable {
        let index: Int
        let configuration: CPUMinerConfiguration
        let board: Board

        func run() {
            let header = UnsafeMutableRawPointer.allocate(byteCount: BlockHeader.size, alignment: 8)
            defer { header.deallocate() }
            var seenGeneration: UInt64 = .max
            var work: MiningWork?
            while !board.stopping.load(ordering: .acquiring) {
                if board.generation.load(ordering: .acquiring) != seenGeneration {
                    (seenGeneration, work) = board.current.withLock { ($0.generation, $0.work) }
                }
                guard let work else {
                    usleep(2_000)
                    continue
                }
                mine(work, generation: seenGeneration, header: header)
            }
        }

        /// Hashes `work` until the generation moves on or the miner stops.
        private func mine(_ work: MiningWork, generation: UInt64, header: UnsafeMutableRawPointer) {
            let job = work.job
            let workers = UInt64(configuration.workerCount)
            let span = UInt32(Swift.min(UInt64(configuration.nonceSpan ?? .max), (UInt64(1) << 32) / workers))
            let firstNonce = UInt32(truncatingIfNeeded: UInt64(index) * UInt64(span))
            let mask = job.versionMask
            let shift = UInt32(mask == 0 ? 0 : mask.trailingZeroBitCount)
            let versionBits = mask == 0 ? 0 : (~(mask >> shift)).trailingZeroBitCount
            let versionSpace = UInt64(1) << UInt64(versionBits)
            let extranonceSpace: UInt64 = work.extranonceSize >= 8 ? .max : UInt64(1) << UInt64(8 * work.extranonceSize)
            var target = Hash256.zero
            target.withUnsafeMutableBytes { raw in
                for (i, byte) in work.scanTarget.bytes.enumerated() { raw[i] = byte }
            }
            let counter = board.counters[index]
            var ntime = work.ntime
            var extranonceIndex: UInt64 = 0
            var versionIndex: UInt64 = 0
            var extranonce = Extranonce.empty
            var merkleRoot = Hash256.zero
            var rootValid = false
            while true {
                if !rootValid {
                    extranonce = Worker.extranonce(extranonceIndex, size: work.extranonceSize)
                    merkleRoot = job.merkleRoot(extranonce: extranonce)
                    rootValid = true
                }
                let version = job.version ^ (UInt32(truncatingIfNeeded: versionIndex) << shift & mask)
                BlockHeader(
                    version: version, prevHash: job.prevHash, merkleRoot: merkleRoot, ntime: ntime, nbits: job.nbits,
                    nonce: 0
                ).serialize(to: header)
                var nonce = firstNonce
                var remaining = span
                while remaining > 0 {
                    var found: Int32 = 0
                    var hash = Hash256.zero
                    let scanned = target.withUnsafeBytes { targetBytes in
                        hash.withUnsafeMutableBytes { out in
                            cshims_scan_nonces(
                                header.assumingMemoryBound(to: UInt8.self), nonce, Swift.min(remaining, configuration.chunkSize),
                                targetBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), &found,
                                out.baseAddress!.assumingMemoryBound(to: UInt8.self))
                        }
                    }
                    counter.hashes.add(UInt64(scanned), ordering: .relaxed)
                    if found != 0 {
                        let share = Share(
                            jobID: job.jobID, nonce: nonce &+ scanned &- 1, ntime: ntime, version: version,
                            extranonce: extranonce)
                        board.deliver(FoundShare(share: share, hash: hash, job: job, generation: generation))
                    }
                    nonce &+= scanned
                    remaining -= scanned
                    if board.generation.load(ordering: .relaxed) != generation { return }
                }
                // Range exhausted: next version, then next extranonce, then next second.
                versionIndex += 1
                if versionIndex >= versionSpace {
                    versionIndex = 0
                    extranonceIndex &+= 1
                    rootValid = false
                    if extranonceIndex >= extranonceSpace || work.extranonceSize == 0 {
                        extranonceIndex = 0
                        ntime &+= 1
                    }
                }
            }
        }

        /// The `index`-th extranonce of `size` bytes (big-endian counter in the last bytes).
        static func extranonce(_ index: UInt64, size: Int) -> Extranonce {
            guard size > 0 else { return .empty }
            var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &bytes) { raw in
                for i in 0..<Swift.min(size, 8) {
                    raw[size - 1 - i] = UInt8(truncatingIfNeeded: index >> UInt64(8 * i))
                }
                return Extranonce(copying: UnsafeRawBufferPointer(rebasing: raw.prefix(size)))!
            }
        }
    }
}
