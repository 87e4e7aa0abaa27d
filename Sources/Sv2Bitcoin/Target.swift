/// A proof-of-work target: a hash meets it when the hash, read as a little-endian 256-bit integer, is ≤ the target.
///
/// On the Sv2 wire a target is a `U256`: 32 raw bytes holding the little-endian integer, which is what
/// ``init(bytes:)`` and ``bytes`` read and write. Larger targets are easier; difficulty 1 is
/// `0x00000000ffff0000…0000` (the Bitcoin genesis `nbits` 0x1d00ffff).
public struct Target: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The target as an integer.
    public var value: UInt256

    /// Wraps an integer target.
    @inlinable public init(_ value: UInt256) { self.value = value }

    /// The easiest possible target (every hash meets it).
    public static let max = Target(.max)

    /// The difficulty-1 target, `0xffff · 2^208`.
    public static let difficultyOne = Target(UInt256(0xffff) << 208)

    /// Reads the 32 raw little-endian bytes of a wire `U256`; `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var limbs = UInt256.zero
        for (index, byte) in bytes.enumerated() {
            limbs[limb: index / 8] |= UInt64(byte) << (8 * (index % 8))
        }
        value = limbs
    }

    /// The 32 raw little-endian bytes of the wire `U256`.
    public var bytes: [UInt8] {
        (0..<32).map { UInt8(truncatingIfNeeded: value[limb: $0 / 8] >> (8 * ($0 % 8))) }
    }

    /// Decodes a compact `nbits` (`mantissa · 256^(exponent − 3)`).
    ///
    /// Returns `nil` for the encodings Bitcoin Core rejects: a set sign bit with a non-zero mantissa, or a
    /// value that overflows 256 bits.
    public init?(compact nbits: UInt32) {
        let exponent = Int(nbits >> 24)
        let mantissa = UInt64(nbits & 0x007f_ffff)
        if nbits & 0x0080_0000 != 0, mantissa != 0 { return nil }
        if exponent <= 3 {
            value = UInt256(mantissa >> UInt64(8 * (3 - exponent)))
            return
        }
        let shift = 8 * (exponent - 3)
        let shifted = UInt256(mantissa) << shift
        guard mantissa == 0 || shifted >> shift == UInt256(mantissa) else { return nil }
        value = shifted
    }

    /// The compact `nbits` encoding (rounded down to 23 mantissa bits, as Bitcoin Core's `GetCompact`).
    public var compact: UInt32 {
        var size = (value.bitWidth + 7) / 8
        var mantissa: UInt64 =
            size <= 3 ? value.w0 << UInt64(8 * (3 - size)) : (value >> (8 * (size - 3))).w0
        if mantissa & 0x0080_0000 != 0 {
            mantissa >>= 8
            size += 1
        }
        return UInt32(size) << 24 | UInt32(mantissa)
    }

    /// The target of a (possibly fractional) difficulty: `difficultyOne / difficulty`, saturating at ``max``.
    ///
    /// Returns `nil` for a difficulty that is not positive or not finite.
    public init?(difficulty: Double) {
        guard difficulty.isFinite, difficulty > 0 else { return nil }
        guard let value = UInt256(truncating: Target.difficultyOne.value.doubleValue / difficulty) else { return nil }
        self.value = value
    }

    /// `difficultyOne / target` (accurate to double precision).
    public var difficulty: Double {
        Target.difficultyOne.value.doubleValue / Swift.max(value.doubleValue, 1)
    }

    /// Expected number of hashes per hash that meets this target: `2^256 / (target + 1)`.
    public var expectedHashesPerShare: Double {
        0x1p256 / (value.doubleValue + 1)
    }

    /// The target at which a miner of `hashrate` H/s finds `sharesPerMinute` shares a minute on average, as SRI
    /// computes it: `hs = ⌊hashrate · 60 / sharesPerMinute⌋`, `target = (2^256 − 1 − hs) / (hs + 1)`.
    ///
    /// Returns `nil` if either rate is negative, NaN, or `sharesPerMinute` is zero.
    public init?(hashrate: Double, sharesPerMinute: Double) {
        guard hashrate >= 0, sharesPerMinute > 0, hashrate.isFinite, sharesPerMinute.isFinite else { return nil }
        // SRI truncates h·s to u128; we keep up to 255 bits, identical for any realistic hashrate.
        guard let work = UInt256(truncating: hashrate * 60 / sharesPerMinute), work < UInt256.max else {
            self = Target(.zero)
            return
        }
        let numerator = UInt256.max.subtractingReportingOverflow(work).partialValue
        let denominator = work.addingReportingOverflow(UInt256(1)).partialValue
        value = numerator.quotientAndRemainder(dividingBy: denominator).quotient
    }

    /// The hashrate (H/s) at which this target yields `sharesPerMinute` shares a minute on average.
    public func hashrate(sharesPerMinute: Double) -> Double {
        expectedHashesPerShare * sharesPerMinute / 60
    }

    /// True when `hash` (raw SHA-256d output, a little-endian integer) is ≤ this target.
    @inlinable public func isMet(by hash: Hash256) -> Bool {
        hash.numericValue <= value
    }

    /// True when the 32 raw hash bytes at `hash` (a little-endian integer) are ≤ this target.
    @inlinable public func isMet(by hash: UnsafeRawPointer) -> Bool {
        isMet(by: Hash256(copying: hash))
    }

    @inlinable public static func < (lhs: Target, rhs: Target) -> Bool { lhs.value < rhs.value }

    /// The target as 64 hex digits, most significant first (the conventional big-endian display).
    public var description: String { value.description }
}
