// swift-tools-version: 6.1
import PackageDescription

// Module map (see README.md):
//   CShims      – C glue: liburing inline helpers, libsecp256k1 and OpenSSL libcrypto headers.
//   Sv2Codec    – Sv2 binary types, framing and every message (zero-copy views + owned values).
//   Reactor     – single-threaded io_uring event loop with an epoll fallback.
//   Sv2Noise    – ElligatorSwift, Noise NX handshake, certificates, encrypted transport.
//   Sv2Service  – Sv2Server / Sv2Client services with per-subprotocol handlers.
//   Sv2Mining   – channels, jobs, share validation, extranonces, vardiff, template source.
//   Sv2JobDeclaration – Job Declaration: the JD server (tokens, declared-job checks) and the JD client.
//   Sv1         – Stratum V1 wire: line splitting (capped), JSON-RPC requests, answers and pushes (pure).
//   Sv2Translator – `sv2 translator`: Sv1 devices on one Sv2 extended channel (plus a CPU Sv1 test device).
//   CSQLite, CPostgres – Debian's libsqlite3 and libpq (system libraries).
//   Sv2Accounting – share ledger: accounting windows committed to SQLite on a writer thread, replicated to
//                 PostgreSQL; reports.
//   Sv2Metrics  – Prometheus /metrics on the Reactor loop (swift-prometheus as the swift-metrics backend).
//   Stratum     – umbrella that re-exports the public modules.
//   Sv2LoadTest – `sv2 loadtest`: simulated miners against any Sv2 pool, plus a minimal reference server.
//   Sv2AppSupport – what the apps keep on disk: the data directory, key files (mode 0600), certificate validity.
//   sv2         – the command-line apps (pool, miner, proxy, keys, demo, loadtest).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-stratum",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Stratum", targets: ["Stratum"]),
        .library(name: "Sv2Codec", targets: ["Sv2Codec"]),
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "Sv2Noise", targets: ["Sv2Noise"]),
        .library(name: "Sv2Service", targets: ["Sv2Service"]),
        .library(name: "Sv2Mining", targets: ["Sv2Mining"]),
        .library(name: "Sv2JobDeclaration", targets: ["Sv2JobDeclaration"]),
        .library(name: "Sv1", targets: ["Sv1"]),
        .library(name: "Sv2Translator", targets: ["Sv2Translator"]),
        .library(name: "Sv2Accounting", targets: ["Sv2Accounting"]),
        .executable(name: "sv2", targets: ["sv2"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "CShims",
            linkerSettings: [
                .linkedLibrary("uring"),
                .linkedLibrary("secp256k1"),
                .linkedLibrary("crypto"),
            ]
        ),
        .target(name: "Sv2Codec", swiftSettings: strictSettings),
        .target(
            name: "Reactor",
            dependencies: ["CShims", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv2Noise", dependencies: ["CShims", "Sv2Codec"], swiftSettings: strictSettings),
        .target(
            name: "Sv2Service",
            dependencies: [
                "Sv2Codec", "Sv2Noise", "Reactor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sv2Mining",
            dependencies: ["CShims", "Sv2Codec", "Sv2Service", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sv2JobDeclaration",
            dependencies: ["Sv2Codec", "Sv2Service", "Sv2Mining", "Reactor", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres"),
        .target(
            name: "Sv2Accounting",
            dependencies: ["CSQLite", "CPostgres", "Sv2Mining", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sv2Metrics",
            dependencies: [
                "Reactor", "Sv2Service", "Sv2Mining", "Sv2Accounting",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv1", swiftSettings: strictSettings),
        .target(
            name: "Sv2Translator",
            dependencies: [
                "Sv1", "Sv2Codec", "Sv2Service", "Sv2Mining", "Reactor",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Stratum",
            dependencies: ["Sv2Codec", "Reactor", "Sv2Noise", "Sv2Service", "Sv2Mining", "Sv2JobDeclaration"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sv2LoadTest",
            dependencies: [
                "Reactor", "Sv2Codec", "Sv2Noise", "Sv2Service", "Sv2Mining",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv2AppSupport", dependencies: ["Sv2Noise", "Sv2Codec"], swiftSettings: strictSettings),
        .executableTarget(
            name: "sv2",
            dependencies: [
                "Stratum", "CShims", "Sv2LoadTest", "Sv2AppSupport", "Sv1", "Sv2Translator", "Sv2Accounting", "Sv2Metrics",
                "Sv2JobDeclaration",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "HelloSv2",
            dependencies: ["Sv2Codec", "Sv2Noise", "Sv2Service", "Reactor"],
            path: "Examples/HelloSv2",
            swiftSettings: strictSettings
        ),
        .target(name: "LoopTestSupport", dependencies: ["Reactor"], path: "Tests/LoopTestSupport", swiftSettings: strictSettings),
        .testTarget(name: "Sv2CodecTests", dependencies: ["Sv2Codec"], resources: [.copy("Vectors")]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "CShims", "LoopTestSupport"]),
        .testTarget(name: "Sv2NoiseTests", dependencies: ["Sv2Noise", "Sv2Codec", "CShims"], resources: [.copy("Vectors")]),
        .testTarget(name: "Sv2ServiceTests", dependencies: ["Sv2Service", "Sv2Codec", "Sv2Noise", "Reactor", "CShims", "LoopTestSupport"]),
        .testTarget(name: "Sv2LoadTestTests", dependencies: ["Sv2LoadTest", "Sv2Codec", "Sv2Service", "Sv2Mining", "Reactor", "Sv2Noise"]),
        .testTarget(name: "Sv2AppSupportTests", dependencies: ["Sv2AppSupport", "Sv2Noise"]),
        .testTarget(name: "sv2Tests", dependencies: ["sv2", "Sv2AppSupport", "Sv2Noise", "Sv2Mining", "Sv2Service", "Reactor", "LoopTestSupport"]),
        .testTarget(
            name: "Sv2TranslatorTests",
            dependencies: ["Sv1", "Sv2Translator", "Sv2Mining", "Sv2Codec", "Sv2Service", "Reactor", "Sv2Noise", "LoopTestSupport"],
            resources: [.copy("Vectors")]),
        .target(name: "AccountingTestSupport", dependencies: ["Sv2Accounting", "Sv2Mining"], path: "Tests/AccountingTestSupport", swiftSettings: strictSettings),
        .testTarget(name: "Sv2AccountingTests", dependencies: ["Sv2Accounting", "Sv2Mining", "AccountingTestSupport"]),
        .testTarget(
            name: "Sv2MiningTests",
            dependencies: [
                "Sv2Mining", "Sv2JobDeclaration", "Sv2Accounting", "Sv2Metrics", "AccountingTestSupport", "Sv2Codec", "Sv2Service", "Reactor",
                "Sv2Noise", "CShims", "LoopTestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Vectors")]),
    ]
)
