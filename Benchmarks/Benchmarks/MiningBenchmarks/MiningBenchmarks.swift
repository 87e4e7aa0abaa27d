import Benchmark
import Sv2Mining

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
}
