// swift-tools-version: 6.1
import Foundation
import PackageDescription

// A path dependency is identified by its folder name, which differs between clones.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Benchmarks live in their own package so `swift test` at the root never builds the
// benchmark harness or the comparison baselines (swift-crypto, SwiftNIO).
// Run: cd Benchmarks && swift package benchmark   (see README.md "Benchmarks").
let package = Package(
    name: "swift-stratum-benchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", "2.101.0"..<"2.102.0"),
        // Baseline for the ChaCha20-Poly1305 comparison only; the library itself uses OpenSSL.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Sv2Codec", package: root),
            ],
            path: "Benchmarks/CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .target(name: "CEchoBaseline", path: "Benchmarks/CEchoBaseline"),
        .executableTarget(
            name: "ReactorBenchmarks",
            dependencies: [
                "CEchoBaseline",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Reactor", package: root),
            ],
            path: "Benchmarks/ReactorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MiningBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Sv2Bitcoin", package: root),
                .product(name: "Sv2Mining", package: root),
                .product(name: "Sv2Pool", package: root),
                .product(name: "Sv2TemplateProvider", package: root),
                .product(name: "Sv2Accounting", package: root),
                .product(name: "Sv2Codec", package: root),
                .product(name: "Sv2Service", package: root),
            ],
            path: "Benchmarks/MiningBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "NoiseBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Sv2Noise", package: root),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/NoiseBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ServiceBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Sv2Service", package: root),
                .product(name: "Sv2Noise", package: root),
                .product(name: "Reactor", package: root),
                .product(name: "Sv2Codec", package: root),
            ],
            path: "Benchmarks/ServiceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Comparison baseline for `compare.sh`: the same minimal pool on SwiftNIO (see its main.swift).
        .executableTarget(
            name: "NIOBaselineServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Sv2Codec", package: root),
                .product(name: "Sv2Noise", package: root),
                .product(name: "Sv2Bitcoin", package: root),
                .product(name: "Sv2Mining", package: root),
            ],
            path: "Benchmarks/NIOBaselineServer"
        ),
    ]
)
