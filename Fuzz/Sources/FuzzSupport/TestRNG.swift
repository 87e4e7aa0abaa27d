import Sv2Codec

/// The random source `RandomMessages.swift` (generated for the codec tests, shared here by symlink) draws from.
///
/// Fed by fuzz input: each `next()` takes the next 8 input bytes, so libFuzzer's mutations steer which message is
/// generated; once the input is used up it continues as SplitMix64 seeded by what it read (deterministic).
public struct TestRNG: RandomNumberGenerator {
    private let input: [UInt8]
    private var position = 0
    var state: UInt64

    /// A generator that replays `input`, then continues pseudo-randomly.
    public init(input: [UInt8]) {
        self.input = input
        state = 0x5EED
    }

    /// A plain SplitMix64 generator (corpus generation).
    public init(seed: UInt64) {
        input = []
        state = seed
    }

    public mutating func next() -> UInt64 {
        if position < input.count {
            var value: UInt64 = 0
            for i in 0..<8 where position + i < input.count { value |= UInt64(input[position + i]) << (8 * i) }
            position += 8
            state ^= value
            return value
        }
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
