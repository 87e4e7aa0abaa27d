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

    mutating func u8() -> UInt8 { UInt8.random(in: .min ... .max, using: &self) }
    mutating func u16() -> UInt16 { UInt16.random(in: .min ... .max, using: &self) }
    mutating func u32() -> UInt32 { UInt32.random(in: .min ... .max, using: &self) }
    mutating func u64() -> UInt64 { next() }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func f32() -> Float { Float(next() % 1_000_000_000) * 1.5 }
    mutating func u256() -> U256 { U256(limbs: (next(), next(), next(), next())) }
    mutating func optionalU32() -> UInt32? { bool() ? u32() : nil }

    mutating func length(max: Int, large: Bool) -> Int {
        large ? max : Int.random(in: 0...Swift.min(max, 40), using: &self)
    }

    mutating func bytes(max: Int, large: Bool) -> [UInt8] {
        (0..<length(max: Swift.min(max, 70_000), large: large)).map { _ in u8() }
    }

    mutating func string(max: Int, large: Bool) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_./é".unicodeScalars)
        var out = String.UnicodeScalarView()
        while out.count < length(max: max, large: large) / 2 { out.append(alphabet[Int(next() % UInt64(alphabet.count))]) }
        var s = String(out)
        while s.utf8.count > max { s.removeLast() }
        return s
    }

    mutating func sequence<T>(max: Int, large: Bool, _ element: (inout TestRNG) -> T) -> [T] {
        let n = large ? Swift.min(max, 300) : Int.random(in: 0...6, using: &self)
        var out: [T] = []
        for _ in 0..<n { out.append(element(&self)) }
        return out
    }

    mutating func byteStrings(large: Bool) -> [[UInt8]] {
        let n = large ? 3 : Int.random(in: 0...4, using: &self)
        return (0..<n).map { _ in bytes(max: large ? 70_000 : 300, large: large) }
    }
}
