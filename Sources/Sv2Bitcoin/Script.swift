/// The few script-building helpers a coinbase needs.
public enum Script {
    /// `OP_0`.
    public static let op0: UInt8 = 0x00
    /// `OP_TRUE` (`OP_1`).
    public static let opTrue: UInt8 = 0x51
    /// `OP_RETURN`.
    public static let opReturn: UInt8 = 0x6a

    /// A minimal push of `data` (direct push up to 75 bytes, then `OP_PUSHDATA1/2`).
    public static func push(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        switch data.count {
        case 0..<0x4c:
            out.append(UInt8(data.count))
        case 0x4c...0xff:
            out += [0x4c, UInt8(data.count)]
        default:
            out += [0x4d, UInt8(data.count & 0xff), UInt8(data.count >> 8)]
        }
        return out + data
    }

    /// Pushes `number` the way Bitcoin Core's `CScript() << n` does (and so BIP34 expects the height):
    /// `OP_0` for 0, `OP_1…OP_16` for 1…16, otherwise a minimal little-endian sign-magnitude `CScriptNum` push.
    public static func pushNumber(_ number: Int64) -> [UInt8] {
        if number == 0 { return [op0] }
        if number == -1 { return [0x4f] }
        if (1...16).contains(number) { return [0x50 + UInt8(number)] }
        return push(scriptNum(number))
    }

    /// Minimal `CScriptNum` serialization.
    static func scriptNum(_ number: Int64) -> [UInt8] {
        var magnitude = number.magnitude
        var out: [UInt8] = []
        while magnitude > 0 {
            out.append(UInt8(magnitude & 0xff))
            magnitude >>= 8
        }
        if out.last! & 0x80 != 0 {
            out.append(number < 0 ? 0x80 : 0x00)
        } else if number < 0 {
            out[out.count - 1] |= 0x80
        }
        return out
    }
}
