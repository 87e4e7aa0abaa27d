import Foundation
import Sv2Codec

/// Deterministic SplitMix64, so every generated test case can be reproduced from its seed.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Loads a `key hex` vector file from the test bundle.
func loadVectors(_ name: String) throws -> [String: [UInt8]] {
    guard let url = Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Vectors") else {
        throw VectorError.missing(name)
    }
    var out: [String: [UInt8]] = [:]
    for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        guard parts.count == 2, let bytes = Sv2Hex.decode(String(parts[1])) else { throw VectorError.malformed(String(line)) }
        out[String(parts[0])] = bytes
    }
    return out
}

enum VectorError: Error { case missing(String), malformed(String) }

func hex(_ s: String) -> [UInt8] { Sv2Hex.decode(s)! }
