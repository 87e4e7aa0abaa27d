import Benchmark
import Sv2Codec

let benchmarks: @Sendable () -> Void = {
    Benchmark("placeholder", configuration: .init(metrics: [.wallClock, .mallocCountTotal])) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(1) }
    }
}
