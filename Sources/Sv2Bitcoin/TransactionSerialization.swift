/// Parsing just enough of a serialized transaction to drop its BIP141 witness (for txids of submitted coinbases).
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
}
