import Sv2Bitcoin
import Sv2Mining

/// A pool's found block made whole from its template's transactions (the template provider's
/// `RequestTransactionData.Success`): header ‖ transaction count ‖ coinbase (with its witness, as submitted) ‖
/// the transactions, checked before it is journaled (merkle root, header hash, BIP141 witness commitment, size), so
/// the journal never holds a block that is not the one found.
enum PoolBlockAssembly {
    /// Largest serialized block accepted (bytes): a block's weight is at most 4,000,000 and every byte weighs at
    /// least one, so a longer serialization cannot be a valid block.
    static let maximumBlockSize = 4_000_000

    /// Why the transactions do not make the found block.
    enum Failure: Error, Hashable, CustomStringConvertible {
        /// The coinbase (as submitted) does not parse as a transaction.
        case malformedCoinbase
        /// Transaction `index` (0-based, coinbase excluded) does not parse.
        case malformedTransaction(index: Int)
        /// The merkle root of the coinbase and the transactions is not the header's.
        case merkleRootMismatch(computed: Hash256, header: Hash256)
        /// The header does not hash to the found block's hash.
        case headerHashMismatch(Hash256)
        /// The block would be larger than ``PoolBlockAssembly/maximumBlockSize``.
        case tooLarge(Int)
        /// The transactions' witnesses are not the ones the coinbase commits to (BIP141): same txids, so the same
        /// header, but a block no node would take.
        case witnessCommitmentMismatch
        /// Transaction `index` carries a witness but the coinbase commits to none (BIP141: such a block is invalid).
        case unexpectedWitness(index: Int)

        var description: String {
            switch self {
            case .malformedCoinbase: "the coinbase does not parse"
            case .malformedTransaction(let index): "transaction \(index) of the answer does not parse"
            case .merkleRootMismatch(let computed, let header):
                "the transactions give merkle root \(computed), the header has \(header)"
            case .headerHashMismatch(let hash): "the header hashes to \(hash), not to the block's hash"
            case .tooLarge(let size): "\(size) bytes, more than a block can be (\(PoolBlockAssembly.maximumBlockSize))"
            case .witnessCommitmentMismatch: "the transactions' witnesses do not match the coinbase's witness commitment"
            case .unexpectedWitness(let index): "transaction \(index) has a witness, but the coinbase commits to none"
            }
        }
    }

    /// The consensus serialization of `block` with `transactions` (block order, coinbase excluded), or why they do
    /// not make it.
    static func assemble(_ block: FoundBlock, transactions: [[UInt8]]) -> Result<[UInt8], Failure> {
        guard block.header.hash == block.hash else { return .failure(.headerHashMismatch(block.header.hash)) }
        var size = BlockHeader.size + 9 + block.coinbaseTransaction.count
        for transaction in transactions {
            size = size.addingReportingOverflow(transaction.count).partialValue
            guard size <= maximumBlockSize else { return .failure(.tooLarge(size)) }
        }
        guard size <= maximumBlockSize else { return .failure(.tooLarge(size)) }
        guard let coinbase = TransactionSerialization.withoutWitness(block.coinbaseTransaction) else {
            return .failure(.malformedCoinbase)
        }
        guard let witness = TransactionSerialization.witnessCommitment(ofCoinbase: block.coinbaseTransaction) else {
            return .failure(.malformedCoinbase)
        }
        var txids = [SHA256d.hash(coinbase)]
        txids.reserveCapacity(transactions.count + 1)
        // The wtxids too: the txids fix the header, but only the witness commitment fixes the witnesses, and a block
        // whose witnesses were altered on the way would be refused by every node.
        var wtxids: [Hash256] = []
        wtxids.reserveCapacity(transactions.count)
        for (index, transaction) in transactions.enumerated() {
            guard let stripped = TransactionSerialization.withoutWitness(transaction) else {
                return .failure(.malformedTransaction(index: index))
            }
            if witness.commitment == nil, stripped.count != transaction.count {
                return .failure(.unexpectedWitness(index: index))
            }
            txids.append(SHA256d.hash(stripped))
            wtxids.append(SHA256d.hash(transaction))
        }
        let root = MerkleRoot.compute(txids: txids)
        guard root == block.header.merkleRoot else {
            return .failure(.merkleRootMismatch(computed: root, header: block.header.merkleRoot))
        }
        switch WitnessCommitment.verdict(commitment: witness.commitment, reservedValue: witness.reservedValue, wtxids: wtxids) {
        case .absent, .matches: break
        case .mismatch, .noReservedValue: return .failure(.witnessCommitmentMismatch)
        }
        var bytes = block.header.bytes
        bytes.reserveCapacity(size)
        CompactSize.append(UInt64(transactions.count + 1), to: &bytes)
        bytes += block.coinbaseTransaction
        for transaction in transactions { bytes += transaction }
        return .success(bytes)
    }
}
