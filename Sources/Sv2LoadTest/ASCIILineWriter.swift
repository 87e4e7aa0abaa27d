/// Writes ASCII into a buffer known to be large enough (the caller sized it from the fields): how the simulated Sv1
/// devices encode `mining.submit` straight into a connection's write buffer without building a `String`.
struct ASCIILineWriter {
    let buffer: UnsafeMutableRawBufferPointer
    private(set) var count = 0
    private static let digits: StaticString = "0123456789abcdef"

    init(buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(rebasing: buffer[count..<(count + bytes.count)]).copyMemory(from: bytes)
        count += bytes.count
    }

    mutating func appendHex(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            appendDigit(Int(byte >> 4))
            appendDigit(Int(byte & 0x0f))
        }
    }

    /// Eight hex digits, most significant first (Sv1's `ntime`, `nonce`, version bits).
    mutating func appendHex(_ value: UInt32) {
        var shift: UInt32 = 28
        while true {
            appendDigit(Int((value >> shift) & 0x0f))
            if shift == 0 { break }
            shift -= 4
        }
    }

    mutating func appendDecimal(_ value: UInt64) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            appendDigit(Int((value / divisor) % 10))
            divisor /= 10
        }
    }

    private mutating func appendDigit(_ digit: Int) {
        buffer[count] = Self.digits.withUTF8Buffer { $0[digit] }
        count += 1
    }
}
