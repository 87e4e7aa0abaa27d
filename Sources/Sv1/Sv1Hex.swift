/// Hex helpers for the Sv1 wire, where every binary field travels as a lowercase hex string.
public enum Sv1Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`, in order.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of an even-length hex string (either case); `nil` for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8?
        for char in utf8 {
            guard let nibble = value(of: char) else { return nil }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return out
    }

    /// A 32-bit field written as exactly 8 hex digits, most significant first (Sv1 `version`, `nbits`, `ntime`,
    /// `nonce`); `nil` for any other shape.
    public static func decodeUInt32(_ text: String) -> UInt32? {
        let utf8 = text.utf8
        guard utf8.count == 8 else { return nil }
        var value: UInt32 = 0
        for char in utf8 {
            guard let nibble = Self.value(of: char) else { return nil }
            value = value << 4 | UInt32(nibble)
        }
        return value
    }

    /// `value` as 8 hex digits, most significant first.
    public static func encodeUInt32(_ value: UInt32) -> String {
        encode([UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
                UInt8(truncatingIfNeeded: value)])
    }

    private static func value(of char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
