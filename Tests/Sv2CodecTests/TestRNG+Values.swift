import Sv2Codec

// Field values for the generated random messages (`Generated/RandomMessages.swift`), within each Sv2 type's limits.
// Shared by symlink with the fuzz package, whose `TestRNG` replays fuzz input instead of a seed.
extension TestRNG {
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
