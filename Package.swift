// swift-tools-version: 6.1
import PackageDescription

// Linux only: the event loop is io_uring (with an epoll fallback) and the sources import Glibc unconditionally.
//
// Module map (see Docs/Architecture.md); every target declares exactly the modules it imports:
//   CUring      – C glue of the event loop: io_uring and socket helpers (links liburing only), process helper.
//   CCrypto     – C glue over OpenSSL libcrypto: SHA-256 (double hash, midstates, nonce scan), ChaCha20-Poly1305,
//                 constant-time helpers.
//   CSecp256k1  – C glue over libsecp256k1: context, Schnorr, ECDH, ElligatorSwift.
//   Sv2Codec    – Sv2 binary types, framing and every message (zero-copy views + owned values).
//   Reactor     – single-threaded io_uring event loop with an epoll fallback.
//   Sv2Noise    – ElligatorSwift, Noise NX handshake, certificates, encrypted transport.
//   Sv2Service  – Sv2Server / Sv2Client services with per-subprotocol handlers.
//   Sv2Bitcoin  – Bitcoin primitives: 256-bit integers, hashes, SHA-256d, targets, headers, scripts, outputs,
//                 merkle roots (no Sv2 protocol dependency; Sv2Codec only for its hex helper).
//   Sv2Mining   – the core every role shares: share jobs and validation, duplicate filter, extranonces, vardiff,
//                 share credit, acknowledgement semantics, block templates, coinbases, found blocks and their
//                 journal, miner job tracking, wire conversions.
//   Sv2Pool     – `sv2 pool`: the pool, its channels, share windows and ledger hook, template-source client.
//   Sv2Proxy    – `sv2 proxy`: the aggregating proxy.
//   Sv2Miner    – `sv2 miner`: the CPU miner and its session.
//   Sv2TemplateProvider – embedded template source and the Template Distribution server.
//   Sv2JobDeclaration – Job Declaration: the JD server (tokens, declared-job and custom-job checks) and the JD
//                 client (local pool inside the pool's channel, custom jobs, solo fallback).
//   Sv1         – Stratum V1 wire: line splitting (capped), JSON-RPC requests, answers and pushes (pure).
//   Sv2Translator – `sv2 translator`: Sv1 devices on one Sv2 extended channel (plus a CPU Sv1 test device).
//   CSQLite, CPostgres – Debian's libsqlite3 and libpq (system libraries).
//   Sv2Accounting – share ledger: accounting windows committed to SQLite on a writer thread, replicated to
//                 PostgreSQL; reports.
//   Sv2Metrics  – Prometheus /metrics on the Reactor loop (swift-prometheus as the swift-metrics backend).
//   Stratum     – umbrella that re-exports the public modules.
//   Sv2LoadTest – `sv2 loadtest`: simulated miners against any Sv2 pool (or Sv1 endpoint), plus a minimal reference
//                 server.
//   Sv2AppSupport – what the apps keep on disk: the data directory, key files (mode 0600), certificate validity.
//   sv2         – the command-line apps (pool, miner, proxy, translator, template-provider, keys, accounting, demo,
//                 loadtest).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// A mining role (pool, proxy, miner, template provider): a service over the shared core, which is what each of
/// them imports, plus `also`.
func roleTarget(_ name: String, also: [Target.Dependency] = []) -> Target {
    .target(
        name: name,
        dependencies: also + [
            "Sv2Bitcoin", "Sv2Mining", "Sv2Codec", "Sv2Service", "Reactor",
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: strictSettings
    )
}

let package = Package(
    name: "swift-stratum",
    products: [
        .library(name: "Stratum", targets: ["Stratum"]),
        .library(name: "Sv2Codec", targets: ["Sv2Codec"]),
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "Sv2Noise", targets: ["Sv2Noise"]),
        .library(name: "Sv2Service", targets: ["Sv2Service"]),
        .library(name: "Sv2Bitcoin", targets: ["Sv2Bitcoin"]),
        .library(name: "Sv2Mining", targets: ["Sv2Mining"]),
        .library(name: "Sv2Pool", targets: ["Sv2Pool"]),
        .library(name: "Sv2Proxy", targets: ["Sv2Proxy"]),
        .library(name: "Sv2Miner", targets: ["Sv2Miner"]),
        .library(name: "Sv2TemplateProvider", targets: ["Sv2TemplateProvider"]),
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
        // `swift package generate-documentation` (the DocC catalogs in Sources/<Module>/<Module>.docc); a plugin,
        // so nothing of it is linked into the library or the apps.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CUring", linkerSettings: [.linkedLibrary("uring")]),
        .target(name: "CCrypto", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "CSecp256k1", linkerSettings: [.linkedLibrary("secp256k1"), .linkedLibrary("crypto")]),
        .target(name: "Sv2Codec", swiftSettings: strictSettings),
        .target(
            name: "Reactor",
            dependencies: ["CUring", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv2Noise", dependencies: ["CCrypto", "CSecp256k1"], swiftSettings: strictSettings),
        .target(
            name: "Sv2Service",
            dependencies: [
                "Sv2Codec", "Sv2Noise", "Reactor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv2Bitcoin", dependencies: ["CCrypto", "Sv2Codec"], swiftSettings: strictSettings),
        .target(
            name: "Sv2Mining",
            // CCrypto: the duplicate filter's cache prefetch (a static inline C helper).
            dependencies: ["Sv2Bitcoin", "Sv2Codec", "Sv2Service", "Reactor", "CCrypto"],
            swiftSettings: strictSettings
        ),
        roleTarget("Sv2TemplateProvider"),
        roleTarget("Sv2Pool", also: ["Sv2TemplateProvider"]),
        roleTarget("Sv2Proxy"),
        roleTarget("Sv2Miner", also: ["CCrypto"]),
        roleTarget("Sv2JobDeclaration", also: ["Sv2Pool", "Sv2TemplateProvider", "Sv2Noise"]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres"),
        .target(
            name: "Sv2Accounting",
            dependencies: ["CSQLite", "CPostgres", "Reactor", "Sv2Pool", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sv2Metrics",
            dependencies: [
                "Reactor", "Sv2Pool", "Sv2Proxy", "Sv2TemplateProvider", "Sv2Accounting", "Sv2JobDeclaration",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv1", swiftSettings: strictSettings),
        .target(
            name: "Sv2Translator",
            dependencies: [
                "Sv1", "Sv2Bitcoin", "Sv2Codec", "Sv2Service", "Sv2Mining", "Reactor",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Stratum",
            dependencies: [
                "Sv2Codec", "Reactor", "Sv2Noise", "Sv2Service", "Sv2Bitcoin", "Sv2Mining", "Sv2Pool", "Sv2Proxy",
                "Sv2Miner", "Sv2TemplateProvider", "Sv2JobDeclaration",
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sv2LoadTest",
            dependencies: [
                "Reactor", "Sv1", "Sv2Codec", "Sv2Service", "Sv2Bitcoin", "Sv2Mining",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "Sv2AppSupport", dependencies: ["Sv2Noise", "Sv2Codec"], swiftSettings: strictSettings),
        .executableTarget(
            name: "sv2",
            dependencies: [
                "CUring", "Reactor", "Sv2Codec", "Sv2Noise", "Sv2Service", "Sv2Bitcoin", "Sv2Mining", "Sv2Pool",
                "Sv2Proxy", "Sv2Miner", "Sv2TemplateProvider", "Sv2LoadTest", "Sv2AppSupport", "Sv2Translator",
                "Sv2Accounting", "Sv2Metrics", "Sv2JobDeclaration",
                .product(name: "CoreMetrics", package: "swift-metrics"),
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
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "CUring", "LoopTestSupport"]),
        // Replaces malloc/calloc/realloc in the test executable with counting wrappers (see its header).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(
            name: "Sv2NoiseTests", dependencies: ["Sv2Noise", "CCrypto", "CSecp256k1", "MallocCounter"],
            resources: [.copy("Vectors")]),
        .testTarget(
            name: "Sv2ServiceTests",
            dependencies: [
                "Sv2Service", "Sv2Codec", "Sv2Noise", "Reactor", "CUring", "LoopTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "Sv2LoadTestTests",
            dependencies: [
                "Sv2LoadTest", "Sv2Codec", "Sv2Service", "Sv2Bitcoin", "Sv2Mining", "Sv2Pool", "Sv2TemplateProvider",
                "Reactor", "Sv2Noise", "Sv1",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
        .testTarget(name: "Sv2AppSupportTests", dependencies: ["Sv2AppSupport", "Sv2Noise"]),
        .testTarget(
            name: "sv2Tests",
            dependencies: [
                "sv2", "Sv2AppSupport", "Sv2Noise", "Sv2Pool", "Sv2Miner", "Sv2Service", "Sv2TemplateProvider", "Reactor",
                "LoopTestSupport",
                // The commands' refusals are `ValidationError`s; tests read their messages.
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(
            name: "Sv2TranslatorTests",
            dependencies: [
                "Sv1", "Sv2Translator", "Sv2Bitcoin", "Sv2Mining", "Sv2Pool", "Sv2TemplateProvider", "Sv2Codec", "Sv2Service",
                "Reactor", "Sv2Noise", "LoopTestSupport", "Sv2LoadTest",
            ],
            resources: [.copy("Vectors")]),
        .target(name: "AccountingTestSupport", dependencies: ["Sv2Accounting", "Sv2Pool"], path: "Tests/AccountingTestSupport", swiftSettings: strictSettings),
        .testTarget(name: "Sv2AccountingTests", dependencies: ["Sv2Accounting", "Sv2Pool", "AccountingTestSupport"]),
        // One test target for the mining roles: most suites run a pool, a proxy and miners against each other.
        .testTarget(
            name: "Sv2MiningTests",
            dependencies: [
                "Sv2Bitcoin", "Sv2Mining", "Sv2JobDeclaration", "Sv2Pool", "Sv2Proxy", "Sv2Miner", "Sv2TemplateProvider", "Sv2Accounting",
                "Sv2Metrics", "AccountingTestSupport", "Sv2Codec", "Sv2Service", "Reactor", "Sv2Noise", "CCrypto",
                "CUring", "LoopTestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Vectors")]),
    ]
)
