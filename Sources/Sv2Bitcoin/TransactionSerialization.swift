/// Parsing just enough of a serialized transaction to drop its BIP141 witness (for txids of submitted coinbases) or
/// to read a coinbase's witness commitment.
package enum TransactionSerialization {
    /// The legacy (witness-free) serialization of `transaction`, whose hash is the txid. A transaction without
    /// marker/flag is returned as is; `nil` if it does not parse.
    package static func withoutWitness(_ transaction: [UInt8]) -> [UInt8]? {
        guard transaction.count >= 10 else { return nil }
        guard transaction[4] == 0x00, transaction[5] != 0x00 else { return transaction }
        var offset = 6
        func compactSize() -> Int? {
            guard let (value, length) = CompactSize.read(transaction[offset...]), value <= UInt64(transaction.count)
            else { return nil }
            offset += length
            return Int(value)
        }
        func skip(_ count: Int) -> Bool {
            guard count >= 0, offset + count <= transaction.count else { return false }
            offset += count
            return true
        }
        guard let inputs = compactSize() else { return nil }
        for _ in 0..<inputs {
            guard skip(36), let script = compactSize(), skip(script + 4) else { return nil }
        }
        guard let outputs = compactSize() else { return nil }
        for _ in 0..<outputs {
            guard skip(8), let script = compactSize(), skip(script) else { return nil }
        }
        let witnessStart = offset
        for _ in 0..<inputs {
            guard let items = compactSize() else { return nil }
            for _ in 0..<items {
                guard let length = compactSize(), skip(length) else { return nil }
            }
        }
        guard offset + 4 == transaction.count else { return nil }
        return Array(transaction[0..<4] + transaction[6..<witnessStart] + transaction[offset...])
    }

    /// What BIP141 needs of a coinbase to check a block's witness commitment: the commitment of its last commitment
    /// output (``WitnessCommitment/commitment(inScript:)``; nil: the coinbase commits to no witnesses), and the witness reserved value (the coinbase input's single 32-byte witness item; nil when the
    /// input has no such witness). `nil` when `coinbase` does not parse as a one-input transaction.
    package static func witnessCommitment(ofCoinbase coinbase: [UInt8]) -> (commitment: [UInt8]?, reservedValue: [UInt8]?)? {
        guard coinbase.count >= 10 else { return nil }
        let segwit = coinbase[4] == 0x00 && coinbase[5] != 0x00
        var offset = segwit ? 6 : 4
        func compactSize() -> Int? {
            guard let (value, length) = CompactSize.read(coinbase[offset...]), value <= UInt64(coinbase.count)
            else { return nil }
            offset += length
            return Int(value)
        }
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, offset + count <= coinbase.count else { return nil }
            defer { offset += count }
            return coinbase[offset..<offset + count]
        }
        guard compactSize() == 1, take(36) != nil, let scriptLength = compactSize(), take(scriptLength + 4) != nil,
              let outputs = compactSize()
        else { return nil }
        var commitment: [UInt8]?
        for _ in 0..<outputs {
            guard take(8) != nil, let length = compactSize(), let script = take(length) else { return nil }
            if let found = WitnessCommitment.commitment(inScript: script) { commitment = found }
        }
        var reservedValue: [UInt8]?
        if segwit {
            guard let items = compactSize() else { return nil }
            var stack: [ArraySlice<UInt8>] = []
            for _ in 0..<items {
                guard let length = compactSize(), let item = take(length) else { return nil }
                stack.append(item)
            }
            if stack.count == 1, stack[0].count == 32 { reservedValue = Array(stack[0]) }
        }
        guard offset + 4 == coinbase.count else { return nil }
        return (commitment, reservedValue)
    }
}
