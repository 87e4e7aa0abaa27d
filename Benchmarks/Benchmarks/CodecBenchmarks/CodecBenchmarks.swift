import Benchmark
import Sv2Codec

// Decode + dispatch of the two hottest frames in a pool, as the service does it: split the frame out of a receive
// buffer, switch on the header, decode the zero-copy view, hand it to a handler. The "owned" variants decode into
// allocating value types and serve as the in-run baseline the zero-copy path is compared against.

/// Stands in for a service's handler: consumes the fields so the optimizer cannot drop the decode.
struct SinkHandler {
    var checksum: UInt64 = 0
    mutating func handle(_ share: SubmitSharesStandardView) {
        checksum &+= UInt64(share.nonce) &+ UInt64(share.channelID)
    }
    mutating func handle(_ job: NewExtendedMiningJobView) {
        checksum &+= UInt64(job.jobID) &+ UInt64(job.merklePath.count) &+ UInt64(job.coinbaseTxPrefix.count)
        for node in job.merklePath { checksum &+= node.limbs.0 }
    }
}

@inline(__always)
func dispatch(_ bytes: UnsafeRawBufferPointer, into handler: inout SinkHandler) throws {
    var splitter = Sv2FrameSplitter(bytes)
    while let frame = try splitter.next() {
        switch frame.header.knownMessageType {
        case .submitSharesStandard: handler.handle(try SubmitSharesStandardView(payload: frame.payload))
        case .newExtendedMiningJob: handler.handle(try NewExtendedMiningJobView(payload: frame.payload))
        default: break
        }
    }
}

let shareFrame = try! SubmitSharesStandard(
    channelID: 7, sequenceNumber: 1, jobID: 3, nonce: 0xdead_beef, ntime: 0x6500_0000, version: 0x2000_0000
).encodedFrame()

let jobFrame = try! NewExtendedMiningJob(
    channelID: 7, jobID: 3, minNtime: nil, version: 0x2000_0000, versionRollingAllowed: true,
    merklePath: (0..<12).map { U256(limbs: ($0, 1, 2, 3)) },
    coinbaseTxPrefix: [UInt8](repeating: 0xab, count: 60), coinbaseTxSuffix: [UInt8](repeating: 0xcd, count: 120)
).encodedFrame()

let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(2))

    Benchmark("decode+dispatch SubmitSharesStandard (view)") { benchmark in
        var handler = SinkHandler()
        try shareFrame.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { try dispatch(raw, into: &handler) }
        }
        blackHole(handler.checksum)
    }

    Benchmark("decode SubmitSharesStandard (owned, baseline)") { benchmark in
        var sum: UInt64 = 0
        try shareFrame.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations {
                let frame = try Sv2Frame.split(raw)!
                sum &+= UInt64(try SubmitSharesStandard(decoding: frame.payload).nonce)
            }
        }
        blackHole(sum)
    }

    Benchmark("decode+dispatch NewExtendedMiningJob (view)") { benchmark in
        var handler = SinkHandler()
        try jobFrame.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { try dispatch(raw, into: &handler) }
        }
        blackHole(handler.checksum)
    }

    Benchmark("decode NewExtendedMiningJob (owned, baseline)") { benchmark in
        var sum: UInt64 = 0
        try jobFrame.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations {
                let frame = try Sv2Frame.split(raw)!
                sum &+= UInt64(try NewExtendedMiningJob(decoding: frame.payload).merklePath.count)
            }
        }
        blackHole(sum)
    }

    Benchmark("encode SubmitSharesStandard frame into a buffer") { benchmark in
        let share = SubmitSharesStandard(channelID: 7, sequenceNumber: 1, jobID: 3, nonce: 1, ntime: 2, version: 3)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        for _ in benchmark.scaledIterations { blackHole(try share.encodeFrame(into: buffer)) }
    }
}
