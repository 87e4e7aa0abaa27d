/// An unsigned 256-bit integer as four 64-bit limbs, least significant first.
///
/// Only the arithmetic that targets and difficulty need: comparison, add/subtract, shifts, multiply by a
/// word, long division and conversion to and from `Double`. All operations are value-only (no allocation).
public struct UInt256: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Limbs, least significant first.
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Creates a value from its limbs, least significant first.
    @inlinable public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Creates a value equal to `value`.
    @inlinable public init(_ value: UInt64) { self.init(w0: value, w1: 0, w2: 0, w3: 0) }

    /// Zero.
    public static let zero = UInt256(0)
    /// 2^256 − 1.
    public static let max = UInt256(w0: .max, w1: .max, w2: .max, w3: .max)

    @inlinable public static func < (lhs: UInt256, rhs: UInt256) -> Bool {
        if lhs.w3 != rhs.w3 { return lhs.w3 < rhs.w3 }
        if lhs.w2 != rhs.w2 { return lhs.w2 < rhs.w2 }
        if lhs.w1 != rhs.w1 { return lhs.w1 < rhs.w1 }
        return lhs.w0 < rhs.w0
    }

    /// Limb `index` (0 = least significant).
    @inlinable subscript(limb index: Int) -> UInt64 {
        get {
            switch index {
            case 0: w0
            case 1: w1
            case 2: w2
            default: w3
            }
        }
        set {
            switch index {
            case 0: w0 = newValue
            case 1: w1 = newValue
            case 2: w2 = newValue
            default: w3 = newValue
            }
        }
    }

    /// True when the value is zero.
    @inlinable public var isZero: Bool { (w0 | w1 | w2 | w3) == 0 }

    /// Number of significant bits (0 for zero).
    public var bitWidth: Int {
        if w3 != 0 { return 256 - w3.leadingZeroBitCount }
        if w2 != 0 { return 192 - w2.leadingZeroBitCount }
        if w1 != 0 { return 128 - w1.leadingZeroBitCount }
        return 64 - w0.leadingZeroBitCount
    }

    /// Sum and whether it wrapped past 2^256.
    public func addingReportingOverflow(_ other: UInt256) -> (partialValue: UInt256, overflow: Bool) {
        var result = UInt256.zero
        var carry = false
        for i in 0..<4 {
            let (s1, o1) = self[limb: i].addingReportingOverflow(other[limb: i])
            let (s2, o2) = s1.addingReportingOverflow(carry ? 1 : 0)
            result[limb: i] = s2
            carry = o1 || o2
        }
        return (result, carry)
    }

    /// Difference and whether it wrapped below zero.
    public func subtractingReportingOverflow(_ other: UInt256) -> (partialValue: UInt256, overflow: Bool) {
        var result = UInt256.zero
        var borrow = false
        for i in 0..<4 {
            let (d1, o1) = self[limb: i].subtractingReportingOverflow(other[limb: i])
            let (d2, o2) = d1.subtractingReportingOverflow(borrow ? 1 : 0)
            result[limb: i] = d2
            borrow = o1 || o2
        }
        return (result, borrow)
    }

    /// Product with a word and whether it overflowed 256 bits.
    public func multipliedReportingOverflow(by word: UInt64) -> (partialValue: UInt256, overflow: Bool) {
        var result = UInt256.zero
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (high, low) = self[limb: i].multipliedFullWidth(by: word)
            let (sum, overflow) = low.addingReportingOverflow(carry)
            result[limb: i] = sum
            carry = high &+ (overflow ? 1 : 0)
        }
        return (result, carry != 0)
    }

    /// Logical left shift; bits shifted past 2^256 are lost.
    public static func << (value: UInt256, shift: Int) -> UInt256 {
        guard shift > 0 else { return shift == 0 ? value : value >> -shift }
        guard shift < 256 else { return .zero }
        let limbs = shift / 64, bits = shift % 64
        var result = UInt256.zero
        for i in stride(from: 3, through: limbs, by: -1) {
            var limb = value[limb: i - limbs] << bits
            if bits > 0, i - limbs - 1 >= 0 { limb |= value[limb: i - limbs - 1] >> (64 - bits) }
            result[limb: i] = limb
        }
        return result
    }

    /// Logical right shift.
    public static func >> (value: UInt256, shift: Int) -> UInt256 {
        guard shift > 0 else { return shift == 0 ? value : value << -shift }
        guard shift < 256 else { return .zero }
        let limbs = shift / 64, bits = shift % 64
        var result = UInt256.zero
        for i in 0..<(4 - limbs) {
            var limb = value[limb: i + limbs] >> bits
            if bits > 0, i + limbs + 1 < 4 { limb |= value[limb: i + limbs + 1] << (64 - bits) }
            result[limb: i] = limb
        }
        return result
    }

    /// Quotient and remainder of a division by a non-zero divisor (binary long division; not for hot paths).
    public func quotientAndRemainder(dividingBy divisor: UInt256) -> (quotient: UInt256, remainder: UInt256) {
        precondition(!divisor.isZero, "UInt256 division by zero")
        if self < divisor { return (.zero, self) }
        var quotient = UInt256.zero
        var remainder = UInt256.zero
        for bit in stride(from: bitWidth - 1, through: 0, by: -1) {
            remainder = remainder << 1
            remainder.w0 |= (self[limb: bit / 64] >> (bit % 64)) & 1
            if remainder >= divisor {
                remainder = remainder.subtractingReportingOverflow(divisor).partialValue
                quotient[limb: bit / 64] |= 1 << (bit % 64)
            }
        }
        return (quotient, remainder)
    }

    /// The value rounded to the nearest `Double` (53 significant bits).
    public var doubleValue: Double {
        var result = 0.0
        for i in stride(from: 3, through: 0, by: -1) { result = result * 18_446_744_073_709_551_616.0 + Double(self[limb: i]) }
        return result
    }

    /// The integer part of a non-negative finite `value`, saturating at ``max``; `nil` for negatives or NaN.
    public init?(truncating value: Double) {
        guard !value.isNaN, value >= 0 else { return nil }
        if value >= 0x1p256 {
            self = .max
            return
        }
        if value < 1 {
            self = .zero
            return
        }
        // value = significand(53 bits) · 2^(exponent − 52)
        let exponent = Int(value.exponent)
        let significand = value.significandBitPattern | (1 << 52)
        let shift = exponent - 52
        self = shift >= 0 ? UInt256(significand) << shift : UInt256(significand >> UInt64(-shift))
    }

    /// 64 hex digits, most significant first.
    public var description: String {
        var text = ""
        for i in stride(from: 3, through: 0, by: -1) {
            let digits = String(self[limb: i], radix: 16)
            text += String(repeating: "0", count: 16 - digits.count) + digits
        }
        return text
    }
}
