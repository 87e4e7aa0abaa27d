/// A transaction output (value in satoshis and locking script), serialized in consensus format.
public struct TxOutput: Hashable, Sendable {
    /// Value in satoshis.
    public var value: UInt64
    /// The locking script (scriptPubKey).
    public var script: [UInt8]

    /// Creates an output.
    public init(value: UInt64, script: [UInt8]) {
        self.value = value
        self.script = script
    }

    /// `LE64(value) ‖ CompactSize(script.count) ‖ script`.
    public var serialized: [UInt8] {
        var out: [UInt8] = []
        serialize(into: &out)
        return out
    }

    /// Parses a CompactSize-prefixed list of outputs (`coinbase_tx_outputs` of `SetCustomMiningJob` and
    /// `AllocateMiningJobToken.Success`); `nil` unless the bytes are exactly that list. Never trusts a length: the
    /// count is bounded by the bytes present (an output takes at least 9 bytes).
    public static func parseList(_ bytes: some Collection<UInt8>) -> [TxOutput]? {
        let bytes = Array(bytes)
        guard let (count, countLength) = CompactSize.read(bytes), count <= UInt64(bytes.count / 9) else { return nil }
        var offset = countLength
        var outputs: [TxOutput] = []
        outputs.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let (output, length) = parse(bytes[offset...]) else { return nil }
            outputs.append(output)
            offset += length
        }
        return offset == bytes.count ? outputs : nil
    }

    /// Parses one output at the start of `bytes`: the output and the bytes it took; `nil` if truncated.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> (output: TxOutput, length: Int)? {
        guard bytes.count >= 9 else { return nil }
        var value: UInt64 = 0
        for (index, byte) in bytes.prefix(8).enumerated() { value |= UInt64(byte) << (8 * index) }
        guard let (scriptLength, lengthBytes) = CompactSize.read(bytes.dropFirst(8)),
              scriptLength <= UInt64(bytes.count - 8 - lengthBytes)
        else { return nil }
        let start = bytes.startIndex + 8 + lengthBytes
        let script = Array(bytes[start..<(start + Int(scriptLength))])
        return (TxOutput(value: value, script: script), 8 + lengthBytes + Int(scriptLength))
    }

    /// Appends the consensus serialization to `buffer`.
    public func serialize(into buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
        CompactSize.append(UInt64(script.count), to: &buffer)
        buffer.append(contentsOf: script)
    }
}

/// Bitcoin's variable-length integer ("CompactSize") used for counts and script lengths.
public enum CompactSize {
    /// Appends the encoding of `value` to `buffer`.
    public static func append(_ value: UInt64, to buffer: inout [UInt8]) {
        switch value {
        case 0..<0xfd:
            buffer.append(UInt8(value))
        case 0xfd...0xffff:
            buffer.append(0xfd)
            withUnsafeBytes(of: UInt16(value).littleEndian) { buffer.append(contentsOf: $0) }
        case 0x1_0000...0xffff_ffff:
            buffer.append(0xfe)
            withUnsafeBytes(of: UInt32(value).littleEndian) { buffer.append(contentsOf: $0) }
        default:
            buffer.append(0xff)
            withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
        }
    }

    /// Reads an encoding at the start of `bytes`: the value and the number of bytes it took; `nil` if truncated.
    public static func read(_ bytes: some Collection<UInt8>) -> (value: UInt64, length: Int)? {
        guard let first = bytes.first else { return nil }
        let width: Int
        switch first {
        case 0xfd: width = 2
        case 0xfe: width = 4
        case 0xff: width = 8
        default: return (UInt64(first), 1)
        }
        let tail = bytes.dropFirst().prefix(width)
        guard tail.count == width else { return nil }
        var value: UInt64 = 0
        for (index, byte) in tail.enumerated() { value |= UInt64(byte) << (8 * index) }
        return (value, 1 + width)
    }
}
