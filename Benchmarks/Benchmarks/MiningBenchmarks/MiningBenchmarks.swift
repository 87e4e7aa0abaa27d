import Benchmark
import Foundation
import Sv2Accounting
import Sv2Codec
import Sv2Bitcoin
import Sv2Mining
import Sv2Pool
import Sv2TemplateProvider
import Sv2Service

// The share path's cost: SHA-256d of a header (the floor), then full share validation for standard and
// extended channels. `mallocCountTotal` must stay 0 per iteration (one iteration = one share).

let version: UInt32 = 0x2000_0000
let prevHash = Hash256(bytes: [UInt8](repeating: 0x42, count: 32))!
let nbits: UInt32 = 0x1703_a30c // mainnet-like: no share here is a block

/// A merkle path of a ~4000-transaction block.
let path = (0..<12).map { Hash256(bytes: [UInt8](repeating: UInt8($0), count: 32))! }

func sriLikeCoinbase() -> CoinbaseParts {
    let coinbase = try! Coinbase(
        version: 2, scriptSigPrefix: [0x03, 0x20, 0xa1, 0x07], tag: Array("Sv2/bench/".utf8), extranonceLength: 16,
        sequence: 0xffff_ffff, poolOutputs: [TxOutput(value: 312_500_000, script: [UInt8](repeating: 0x51, count: 22))],
        templateOutputs: TxOutput(value: 0, script: [0x6a, 0x24] + [UInt8](repeating: 0xaa, count: 36)).serialized,
        templateOutputCount: 1, locktime: 0)
    return coinbase.parts(witness: false)
}

func validator() -> ShareValidator {
    // Sized up front so the table never grows during the run (it recycles when full instead).
    ShareValidator(duplicateFilter: DuplicateShareFilter(initialCapacity: 1 << 16, maximumCapacity: 1 << 16))
}

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .instructions]

    Benchmark("SHA256d 80-byte header", configuration: .init(metrics: metrics, scalingFactor: .kilo)) { benchmark in
        var header = BlockHeader(
            version: version, prevHash: prevHash, merkleRoot: prevHash, ntime: 1_700_000_000, nbits: nbits, nonce: 0)
        for _ in benchmark.scaledIterations {
            header.nonce &+= 1
            blackHole(header.hash)
        }
    }

    Benchmark("Share validation (standard)", configuration: .init(metrics: metrics, scalingFactor: .kilo)) { benchmark in
        var shares = validator()
        shares.activate(
            ShareJob(
                standardJobID: 1, version: version, prevHash: prevHash, merkleRoot: prevHash, nbits: nbits,
                minNtime: 1_700_000_000, target: .max),
            newChainTip: true)
        var share = Share(jobID: 1, nonce: 0, ntime: 1_700_000_000, version: version)
        for _ in benchmark.scaledIterations {
            share.nonce &+= 1
            blackHole(shares.validate(share))
        }
    }

    Benchmark("Share validation (extended, 12-level path)", configuration: .init(metrics: metrics, scalingFactor: .kilo)) {
        benchmark in
        let parts = sriLikeCoinbase()
        var shares = validator()
        shares.activate(
            ShareJob(
                extendedJobID: 1, version: version, versionRollingAllowed: true, prevHash: prevHash,
                coinbasePrefix: parts.prefix, extranoncePrefix: Extranonce(bytes: [1, 2, 3, 4])!, extranonceSize: 12,
                coinbaseSuffix: parts.suffix, merklePath: path, nbits: nbits, minNtime: 1_700_000_000, target: .max),
            newChainTip: true)
        var share = Share(
            jobID: 1, nonce: 0, ntime: 1_700_000_000, version: version,
            extranonce: Extranonce(bytes: [UInt8](repeating: 9, count: 12))!)
        for _ in benchmark.scaledIterations {
            share.nonce &+= 1
            blackHole(shares.validate(share))
        }
    }

    // Through the pool: decode the SubmitShares view in place, look up the channel, validate, batch the ack and
    // encode it (every 8th share) into a preallocated buffer — the Mining handler's whole per-share work.
    for extended in [false, true] {
        let name = extended ? "Pool share (extended view → validate → ack)" : "Pool share (standard view → validate → ack)"
        Benchmark(name, configuration: .init(metrics: metrics, scalingFactor: .kilo)) { benchmark in
            let bench = try PoolShareBench(extended: extended)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { bench.submitNext() }
            benchmark.stopMeasurement()
            precondition(bench.pool.statistics.sharesRejected == 0, "benchmark shares must be valid")
        }
    }

    poolAccountingBenchmarks(metrics)
}

/// The last window sequence the ledger's writer reported committed (written by the writer thread, read by the
/// benchmark thread, which plays the pool's loop).
final class CommittedSequence: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0
    func set(_ sequence: UInt64) { lock.lock(); value = sequence; lock.unlock() }
    func get() -> UInt64 { lock.lock(); defer { lock.unlock() }; return value }
}

/// Pool shares with accounting off and on (SQLite, WAL, synchronous=FULL), in the same run. The pool's tick (window
/// close with accounting, the plain ack flush without) runs every 200 ms of wall-clock time as on a live pool
/// (checked every 4096 shares), and commits are handed back to the pool as its loop would.
func poolAccountingBenchmarks(_ metrics: [BenchmarkMetric]) {
    for accounting in [false, true] {
        let name = "Pool share (standard), accounting \(accounting ? "on: SQLite ledger" : "off")"
        // A million shares per sample (~0.3 s): long enough for the 200 ms tick to close windows and the writer
        // to commit them while the pool works, so the writer thread's cost is in the measurement.
        Benchmark(name, configuration: .init(metrics: metrics, scalingFactor: .mega, maxDuration: .seconds(6))) { benchmark in
            // A duplicate table big enough for a million shares on one channel (no job rollover mid-sample).
            let bench = try PoolShareBench(extended: false, duplicateFilterCapacity: 1 << 22)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sv2-bench-\(UInt64.random(in: 0...UInt64.max))")
            defer { try? FileManager.default.removeItem(at: directory) }
            var ledger: ShareLedger?
            let committed = CommittedSequence()
            if accounting {
                let store = try SQLiteLedgerStore(path: directory.appendingPathComponent("accounting.sqlite").path)
                let started = ShareLedger(store: store, capacity: 1024)
                started.setCommitHandler { committed.set($0) }
                started.start()
                bench.pool.ledger = started
                ledger = started
            }
            let clock = ContinuousClock()
            var lastTick = clock.now
            var now = 0.0
            var count = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                bench.submitNext()
                count &+= 1
                if count & 4095 == 0 {
                    if accounting { bench.pool.windowsCommitted(through: committed.get()) }
                    if clock.now - lastTick >= .milliseconds(200) {
                        lastTick = clock.now
                        now += 0.2
                        bench.pool.tick(now: now)
                    }
                }
            }
            benchmark.stopMeasurement()
            ledger?.stop()
            precondition(bench.pool.statistics.sharesRejected == 0, "benchmark shares must be valid (no backlog)")
            precondition(!accounting || bench.pool.statistics.accountingCommits >= 1, "windows must have been committed")
        }
    }
}

/// Encodes replies into one reusable buffer (as the connection's write buffer would), no allocation.
struct BufferSink: PoolReplySink {
    let buffer: UnsafeMutableRawBufferPointer
    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        do { _ = try message.encodeFrame(into: buffer) } catch { throw .encodingFailed(error) }
    }
}

/// Remembers the first job a channel gets while it is opened (setup only).
final class JobCatcher: PoolReplySink {
    var channelID: UInt32 = 0
    var jobID: UInt32 = 0
    var merkleRoot = U256.zero
    var extended: NewExtendedMiningJob?
    var prefix: [UInt8] = []
    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        if let success = message as? OpenStandardMiningChannelSuccess { channelID = success.channelID }
        if let success = message as? OpenExtendedMiningChannelSuccess {
            channelID = success.channelID
            prefix = success.extranoncePrefix
        }
        if let job = message as? NewMiningJob {
            jobID = job.jobID
            merkleRoot = job.merkleRoot
        }
        if let job = message as? NewExtendedMiningJob {
            jobID = job.jobID
            extended = job
        }
    }
}

/// A pool with one open channel on a mainnet-difficulty template and a share payload whose nonce is bumped in place.
final class PoolShareBench {
    let pool: Pool
    let extended: Bool
    let payload: UnsafeMutableRawBufferPointer
    let payloadLength: Int
    let sink: BufferSink

    init(extended: Bool, duplicateFilterCapacity: Int = 1 << 16) throws {
        var configuration = PoolConfiguration(payoutScript: [0x00, 0x14] + [UInt8](repeating: 0xab, count: 20))
        configuration.minimumDifficulty = 1e-12 // every hash is a share: the path under test is accept + ack
        configuration.ackBatchSize = 8
        configuration.duplicateFilterCapacity = duplicateFilterCapacity
        let pool = try Pool(configuration: configuration)
        self.pool = pool
        self.extended = extended
        var source = EmbeddedTemplateSource(
            configuration: .init(nbits: nbits, transactionCount: 4000), prevHash: prevHash, now: 1_700_000_000)
        _ = source.refresh()
        var template = source.template
        template.futureTemplate = true
        var tip = source.chainTip
        tip.templateID = template.templateID
        try pool.receive(template: template)
        try pool.receive(chainTip: tip)
        let catcher = JobCatcher()
        let open: [UInt8]
        if extended {
            open = try OpenExtendedMiningChannel(
                requestID: 1, userIdentity: "bench", nominalHashRate: 0, maxTarget: .max, minExtranonceSize: 8
            ).encodedPayload()
            try open.withUnsafeBytes { raw throws in
                try pool.openExtendedChannel(
                    try OpenExtendedMiningChannelView(payload: Sv2Bytes(unsafeBytes: raw)), connection: Sv2ConnectionID(1), setupFlags: 0,
                    reply: catcher)
            }
        } else {
            open = try OpenStandardMiningChannel(
                requestID: 1, userIdentity: "bench", nominalHashRate: 0, maxTarget: .max).encodedPayload()
            try open.withUnsafeBytes { raw throws in
                try pool.openStandardChannel(
                    try OpenStandardMiningChannelView(payload: Sv2Bytes(unsafeBytes: raw)), connection: Sv2ConnectionID(1), setupFlags: 0,
                    reply: catcher)
            }
        }
        let share: [UInt8] = extended
            ? try SubmitSharesExtended(
                channelID: catcher.channelID, sequenceNumber: 0, jobID: catcher.jobID, nonce: 0,
                ntime: tip.headerTimestamp, version: template.version,
                extranonce: [UInt8](repeating: 7, count: 16)).encodedPayload()
            : try SubmitSharesStandard(
                channelID: catcher.channelID, sequenceNumber: 0, jobID: catcher.jobID, nonce: 0,
                ntime: tip.headerTimestamp, version: template.version).encodedPayload()
        payloadLength = share.count
        payload = .allocate(byteCount: share.count, alignment: 8)
        payload.copyBytes(from: share)
        sink = BufferSink(buffer: .allocate(byteCount: 4096, alignment: 8))
    }

    deinit {
        payload.deallocate()
        sink.buffer.deallocate()
    }

    /// One share: bump sequence and nonce in the wire bytes, decode the view, hand it to the pool.
    @inline(__always) func submitNext() {
        let sequence = UInt32(littleEndian: payload.load(fromByteOffset: 4, as: UInt32.self)) &+ 1
        payload.storeBytes(of: sequence.littleEndian, toByteOffset: 4, as: UInt32.self)
        payload.storeBytes(of: sequence.littleEndian, toByteOffset: 12, as: UInt32.self) // nonce
        let bytes = Sv2Bytes(unsafeBytes: UnsafeRawBufferPointer(payload))
        do {
            if extended {
                try pool.submit(try SubmitSharesExtendedView(payload: bytes), reply: sink)
            } else {
                try pool.submit(try SubmitSharesStandardView(payload: bytes), reply: sink)
            }
        } catch {
            fatalError("\(error)")
        }
    }
}
