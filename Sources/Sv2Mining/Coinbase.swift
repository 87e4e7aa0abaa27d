public import Sv2Bitcoin

/// A coinbase transaction assembled the way SRI's pool builds it from a template, with the extranonce left open.
///
/// Layout (notes §6.4):
/// `version ‖ 00 01 ‖ 01 ‖ 00×32 ‖ ffffffff ‖ len ‖ scriptSig ‖ sequence ‖ outcount ‖ outputs ‖ 01 20 ‖ reserved(32) ‖ locktime`
/// with `scriptSig = coinbase_prefix ‖ push(tag) ‖ OP_PUSHBYTES_n ‖ extranonce(n)`. The job's `coinbase_tx_prefix`
/// ends right after the `OP_PUSHBYTES_n` opcode and `coinbase_tx_suffix` starts at the sequence.
public struct Coinbase: Hashable, Sendable {
    /// Consensus limits on a coinbase scriptSig.
    public static let scriptSigLengths = 2...100

    /// Transaction version (`coinbase_tx_version`).
    public var version: UInt32
    /// The template's `coinbase_prefix` (BIP34 height push and anything the template provider added).
    public var scriptSigPrefix: [UInt8]
    /// Pool identification pushed after the prefix (SRI: `Sv2/<pool>/<miner>/`); empty pushes nothing.
    public var tag: [UInt8]
    /// Total extranonce length in the scriptSig (every upstream prefix plus the rollable part).
    public var extranonceLength: Int
    /// Input sequence (`coinbase_tx_input_sequence`).
    public var sequence: UInt32
    /// All outputs (pool outputs then template outputs), serialized without their count.
    public var outputs: [UInt8]
    /// Number of outputs in ``outputs``.
    public var outputCount: Int
    /// Lock time (`coinbase_tx_locktime`).
    public var locktime: UInt32
    /// The BIP141 witness reserved value (the single witness item of the coinbase input).
    public var witnessReservedValue: Hash256

    /// Builds a coinbase; throws if the scriptSig would break consensus limits or the extranonce exceeds 32 bytes.
    public init(
        version: UInt32, scriptSigPrefix: [UInt8], tag: [UInt8], extranonceLength: Int, sequence: UInt32,
        poolOutputs: [TxOutput], templateOutputs: [UInt8], templateOutputCount: Int, locktime: UInt32,
        witnessReservedValue: Hash256 = .zero
    ) throws(CoinbaseError) {
        guard (0...Extranonce.maxLength).contains(extranonceLength) else {
            throw .extranonceTooLong(length: extranonceLength)
        }
        var outputs: [UInt8] = []
        for output in poolOutputs { output.serialize(into: &outputs) }
        outputs += templateOutputs
        self.version = version
        self.scriptSigPrefix = scriptSigPrefix
        self.tag = tag
        self.extranonceLength = extranonceLength
        self.sequence = sequence
        self.outputs = outputs
        self.outputCount = poolOutputs.count + templateOutputCount
        self.locktime = locktime
        self.witnessReservedValue = witnessReservedValue
        let length = scriptSigLength
        guard Coinbase.scriptSigLengths.contains(length) else { throw .scriptSigLength(length) }
    }

    /// Length of the finished scriptSig.
    public var scriptSigLength: Int {
        scriptSigPrefix.count + (tag.isEmpty ? 0 : Script.push(tag).count) + 1 + extranonceLength
    }

    /// `coinbase_tx_prefix` and `coinbase_tx_suffix` around the extranonce.
    ///
    /// `witness: true` keeps the BIP141 marker, flag and witness (as DeclareMiningJob and SubmitSolution carry
    /// them); `false` gives the stripped form NewExtendedMiningJob sends, whose hash with the extranonce is the txid.
    public func parts(witness: Bool) -> CoinbaseParts {
        var prefix: [UInt8] = []
        withUnsafeBytes(of: version.littleEndian) { prefix.append(contentsOf: $0) }
        if witness { prefix += [0x00, 0x01] }
        prefix.append(0x01) // one input
        prefix += [UInt8](repeating: 0, count: 32) + [0xff, 0xff, 0xff, 0xff]
        CompactSize.append(UInt64(scriptSigLength), to: &prefix)
        prefix += scriptSigPrefix
        if !tag.isEmpty { prefix += Script.push(tag) }
        prefix.append(UInt8(extranonceLength)) // OP_PUSHBYTES_n (n ≤ 32)

        var suffix: [UInt8] = []
        withUnsafeBytes(of: sequence.littleEndian) { suffix.append(contentsOf: $0) }
        CompactSize.append(UInt64(outputCount), to: &suffix)
        suffix += outputs
        if witness { suffix += [0x01, 0x20] + witnessReservedValue.bytes }
        withUnsafeBytes(of: locktime.littleEndian) { suffix.append(contentsOf: $0) }
        return CoinbaseParts(prefix: prefix, suffix: suffix)
    }

    /// The full serialized transaction for `extranonce` (which must be ``extranonceLength`` bytes).
    public func transaction(extranonce: Extranonce, witness: Bool) -> [UInt8] {
        precondition(extranonce.count == extranonceLength, "extranonce must be \(extranonceLength) bytes")
        let parts = parts(witness: witness)
        return parts.prefix + extranonce.bytes + parts.suffix
    }

    /// The txid (hash of the serialization without witness data), raw byte order.
    public func txid(extranonce: Extranonce) -> Hash256 {
        SHA256d.hash(transaction(extranonce: extranonce, witness: false))
    }

    /// The wtxid (hash of the serialization with witness data), raw byte order.
    public func wtxid(extranonce: Extranonce) -> Hash256 {
        SHA256d.hash(transaction(extranonce: extranonce, witness: true))
    }
}

/// The two halves of a coinbase around the extranonce (`coinbase_tx_prefix` / `coinbase_tx_suffix`).
public struct CoinbaseParts: Hashable, Sendable {
    /// Bytes before the extranonce.
    public var prefix: [UInt8]
    /// Bytes after the extranonce.
    public var suffix: [UInt8]

    /// Wraps the two halves.
    public init(prefix: [UInt8], suffix: [UInt8]) {
        self.prefix = prefix
        self.suffix = suffix
    }

    /// Removes the BIP141 marker/flag and the coinbase witness exactly as SRI's `try_strip_bip141` does.
    ///
    /// Returns `nil` if the prefix has no marker/flag (bytes 4–5 not `00 ≠00`), i.e. is already stripped.
    /// Otherwise drops prefix bytes 4–5 and the 34 bytes (`01 20` + 32) just before the 4-byte locktime.
    public func strippingWitness() throws(CoinbaseError) -> CoinbaseParts? {
        guard prefix.count >= 6 else { throw .truncated(part: "coinbase_tx_prefix", length: prefix.count) }
        guard prefix[4] == 0x00, prefix[5] != 0x00 else { return nil }
        guard suffix.count >= 38 else { throw .truncated(part: "coinbase_tx_suffix", length: suffix.count) }
        let locktime = suffix.count - 4
        return CoinbaseParts(
            prefix: Array(prefix[..<4] + prefix[6...]),
            suffix: Array(suffix[..<(locktime - 34)] + suffix[locktime...]))
    }
}

/// Why a coinbase could not be built or split.
public enum CoinbaseError: Error, Hashable, Sendable {
    /// The scriptSig would be outside 2…100 bytes.
    case scriptSigLength(Int)
    /// The extranonce is longer than 32 bytes.
    case extranonceTooLong(length: Int)
    /// A coinbase part is too short to hold the fields being removed.
    case truncated(part: String, length: Int)
}

extension Coinbase {
    /// The pool's coinbase for `template`: the pool outputs first, then the template's outputs.
    public init(
        template: BlockTemplate, tag: [UInt8], extranonceLength: Int, poolOutputs: [TxOutput]
    ) throws(CoinbaseError) {
        try self.init(
            version: template.coinbaseTxVersion, scriptSigPrefix: template.coinbasePrefix, tag: tag,
            extranonceLength: extranonceLength, sequence: template.coinbaseTxInputSequence, poolOutputs: poolOutputs,
            templateOutputs: template.coinbaseTxOutputs, templateOutputCount: Int(template.coinbaseTxOutputsCount),
            locktime: template.coinbaseTxLocktime)
    }
}
