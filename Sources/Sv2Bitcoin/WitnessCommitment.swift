/// BIP141's witness commitment: the coinbase output that commits a block to its transactions' witnesses, and the
/// value it must hold. One definition for everything that builds or checks it (the embedded template source, a
/// pool's block made whole, a Job Declaration server's declared jobs).
package enum WitnessCommitment {
    /// How a commitment output's script starts: `OP_RETURN`, a 36-byte push, `aa21a9ed`; the 32-byte commitment
    /// follows.
    package static let scriptHeader: [UInt8] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]

    /// `SHA-256d(merkle root of [0] ‖ wtxids ‖ reservedValue)`: the commitment to the block's other transactions
    /// (`wtxids`, the coinbase excluded: it counts as zero) with the coinbase's witness reserved value.
    package static func value(wtxids: [Hash256], reservedValue: [UInt8]) -> Hash256 {
        SHA256d.hash(MerkleRoot.compute(txids: [.zero] + wtxids).bytes + reservedValue)
    }

    /// The output carrying `commitment` (no value).
    package static func output(_ commitment: Hash256) -> TxOutput {
        TxOutput(value: 0, script: scriptHeader + commitment.bytes)
    }

    /// The 32 commitment bytes of `script` if it is a commitment output's (at least 38 bytes, starting with
    /// ``scriptHeader``); a coinbase's commitment is that of its last output that has one.
    package static func commitment(inScript script: some Collection<UInt8>) -> [UInt8]? {
        guard script.count >= 38, script.starts(with: scriptHeader) else { return nil }
        return Array(script.dropFirst(scriptHeader.count).prefix(32))
    }

    /// How a coinbase's commitment stands against a block's `wtxids`.
    package enum Verdict: Sendable, Hashable {
        /// The coinbase commits to no witnesses (then no transaction may carry one).
        case absent
        /// It commits to exactly these witnesses.
        case matches
        /// It commits to other witnesses.
        case mismatch
        /// It commits, but its input has no 32-byte witness reserved value to check the commitment with.
        case noReservedValue
    }

    /// `commitment` (nil: none) with `reservedValue` against `wtxids`.
    package static func verdict(commitment: [UInt8]?, reservedValue: [UInt8]?, wtxids: [Hash256]) -> Verdict {
        guard let commitment else { return .absent }
        guard let reservedValue else { return .noReservedValue }
        return value(wtxids: wtxids, reservedValue: reservedValue).bytes == commitment ? .matches : .mismatch
    }
}
