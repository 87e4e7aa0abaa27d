public import Sv2Bitcoin
import Sv2Mining

/// A declared coinbase (`coinbase_tx_prefix` ‖ extranonce ‖ `coinbase_tx_suffix`) taken apart: what a Job
/// Declaration server checks before it accepts a job.
///
/// The extranonce length is not sent: it is what the scriptSig length (in the prefix) leaves after the scriptSig
/// bytes the prefix already holds. Every length is checked against the bytes present before it is used.
public struct DeclaredCoinbase: Sendable, Hashable {
    /// Transaction version.
    public var version: UInt32
    /// The scriptSig bytes before the extranonce (BIP34 height first).
    public var scriptSigPrefix: [UInt8]
    /// Extranonce bytes the scriptSig ends with.
    public var extranonceLength: Int
    /// The input's sequence (`nSequence`).
    public var sequence: UInt32
    /// The outputs.
    public var outputs: [TxOutput]
    /// Lock time.
    public var locktime: UInt32
    /// Serialized size with the extranonce in place (bytes).
    public var size: Int
    /// The input's witness reserved value (its single 32-byte witness item), nil without BIP141 fields.
    public var witnessReservedValue: [UInt8]?

    /// The BIP141 witness commitment of the last output that carries one; nil when the coinbase commits to no
    /// witnesses.
    public var witnessCommitment: [UInt8]? {
        outputs.lazy.compactMap { WitnessCommitment.commitment(inScript: $0.script) }.last
    }

    /// Parses `prefix` ‖ extranonce ‖ `suffix`; BIP141 marker and witness are optional.
    public init(prefix: [UInt8], suffix: [UInt8]) throws(JobDeclarationError) {
        var reader = ByteCursor(prefix)
        guard let version = reader.u32() else { throw .invalidCoinbase("truncated version") }
        var witness = false
        if reader.peek() == 0x00 {
            guard reader.byte() != nil, reader.byte() == 0x01 else { throw .invalidCoinbase("bad segwit flag") }
            witness = true
        }
        guard reader.compactSize() == 1 else { throw .invalidCoinbase("a coinbase has exactly one input") }
        guard let outpoint = reader.bytes(36), outpoint.prefix(32).allSatisfy({ $0 == 0 }),
              outpoint.suffix(4).allSatisfy({ $0 == 0xff })
        else { throw .invalidCoinbase("input is not a coinbase input") }
        guard let scriptLength = reader.compactSize(), (2...100).contains(scriptLength) else {
            throw .invalidCoinbase("scriptSig length outside 2...100")
        }
        let scriptSigPrefix = reader.rest()
        let extranonceLength = Int(scriptLength) - scriptSigPrefix.count
        guard (0...Extranonce.maxLength).contains(extranonceLength) else {
            throw .invalidCoinbase("extranonce of \(extranonceLength) bytes")
        }
        var tail = ByteCursor(suffix)
        guard let sequence = tail.u32() else { throw .invalidCoinbase("truncated sequence") }
        guard let count = tail.compactSize(), count >= 1, count <= UInt64(suffix.count / 9) else {
            throw .invalidCoinbase("bad output count")
        }
        var outputs: [TxOutput] = []
        for _ in 0..<count {
            guard let (output, length) = TxOutput.parse(tail.remaining) else { throw .invalidCoinbase("truncated output") }
            outputs.append(output)
            tail.skip(length)
        }
        var witnessReservedValue: [UInt8]?
        if witness {
            guard tail.compactSize() == 1, let itemLength = tail.compactSize(), itemLength == 32,
                  let reserved = tail.bytes(32)
            else { throw .invalidCoinbase("coinbase witness must be one 32-byte item") }
            witnessReservedValue = Array(reserved)
        }
        guard let locktime = tail.u32(), tail.isAtEnd else { throw .invalidCoinbase("bytes after the lock time") }
        self.version = version
        self.scriptSigPrefix = scriptSigPrefix
        self.extranonceLength = extranonceLength
        self.sequence = sequence
        self.outputs = outputs
        self.locktime = locktime
        self.size = prefix.count + extranonceLength + suffix.count
        self.witnessReservedValue = witnessReservedValue
    }

    /// The BIP34 height the scriptSig starts with, if it has one.
    public var height: UInt32? { Self.bip34Height(scriptSigPrefix) }

    /// The height pushed first in a coinbase scriptSig (BIP34), if any.
    public static func bip34Height(_ scriptSig: [UInt8]) -> UInt32? {
        guard let first = scriptSig.first else { return nil }
        switch first {
        case 0x00: return 0
        case 0x51...0x60: return UInt32(first - 0x50)
        case 0x01...0x04:
            let length = Int(first)
            guard scriptSig.count > length, scriptSig[length] & 0x80 == 0 else { return nil }
            var height: UInt32 = 0
            for shift in 0..<length { height |= UInt32(scriptSig[1 + shift]) << (8 * UInt32(shift)) }
            return height
        default: return nil
        }
    }
}

/// Reads a byte array front to back; every read checks the bytes left.
struct ByteCursor {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: ArraySlice<UInt8> { bytes[offset...] }

    func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func u32() -> UInt32? {
        guard let raw = bytes(4) else { return nil }
        return raw.reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func compactSize() -> UInt64? {
        guard let (value, length) = CompactSize.read(bytes[offset...]) else { return nil }
        offset += length
        return value
    }

    mutating func skip(_ count: Int) { offset = Swift.min(bytes.count, offset + count) }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
