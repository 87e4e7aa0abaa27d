// swift-tools-version: 6.1
import Foundation
import PackageDescription

// A path dependency is identified by its folder name, which differs between clones.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// libFuzzer targets live in their own package so the main build never needs the fuzzer flags.
// Each Fuzz* target's @main hands its test function to libFuzzer's driver (FuzzDriver), so it only links when
// built with `-sanitize=fuzzer`. Run: Fuzz/run.sh [seconds]   (see README.md).

let package = Package(
    name: "swift-stratum-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // Shared by the fuzz targets and the corpus generator: fixed-key Noise sessions, messages from bytes.
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "Sv2Codec", package: root), .product(name: "Sv2Noise", package: root)]
        ),
        // Calls LLVMFuzzerRunDriver (from libFuzzer, linked by -sanitize=fuzzer).
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzSupport", "FuzzDriver"]),
        .executableTarget(name: "FuzzHandshake", dependencies: ["FuzzSupport", "FuzzDriver"]),
        .executableTarget(name: "FuzzTransport", dependencies: ["FuzzSupport", "FuzzDriver"]),
        .executableTarget(name: "FuzzRoundTrip", dependencies: ["FuzzSupport", "FuzzDriver"]),
        .executableTarget(
            name: "FuzzSv1", dependencies: ["FuzzSupport", "FuzzDriver", .product(name: "Sv1", package: root)]),
        // Writes the seed corpus (built without fuzzer flags).
        .executableTarget(name: "CorpusGenerator", dependencies: ["FuzzSupport"]),
    ]
)
