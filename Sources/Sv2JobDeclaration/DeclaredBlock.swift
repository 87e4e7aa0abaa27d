public import Sv2Bitcoin
public import Sv2Codec

/// A full block put together from a declared job and a pushed solution: the header from the solution's fields and
/// the merkle root of the coinbase (`coinbase_tx_prefix` ‖ extranonce ‖ `coinbase_tx_suffix`, BIP141 fields kept)
/// and the declared transactions, in declared order. What the JD server hands to `submitblock`.
public struct DeclaredBlock: Sendable, Hashable {
    /// The header.
    public var header: BlockHeader
    /// The coinbase, with its witness.
    public var coinbase: [UInt8]
    /// The other transactions, full serialization (witness included), in block order.
    public var transactions: [[UInt8]]

    /// The block hash (raw order).
    public var hash: Hash256 { header.hash }

    /// Whether the header's hash meets the target its `nbits` announce.
    public var meetsTarget: Bool { Target(compact: header.nbits)?.isMet(by: header.hash) ?? false }

    /// Why a block could not be put together.
    public enum AssemblyError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The extranonce is not as long as the declared coinbase leaves room for.
        case extranonceLength(got: Int, expected: Int)
        /// A transaction (index; -1 = coinbase) does not parse.
        case unparsableTransaction(index: Int)
        /// The declared coinbase does not parse (it was checked at declaration: cannot happen).
        case invalidCoinbase

        public var description: String {
            switch self {
            case .extranonceLength(let got, let expected): "extranonce of \(got) bytes, the declared coinbase takes \(expected)"
            case .unparsableTransaction(let index): index < 0 ? "coinbase does not parse" : "transaction \(index) does not parse"
            case .invalidCoinbase: "declared coinbase does not parse"
            }
        }
    }

    /// Assembles the block `solution` solves on `job`, whose transactions are `transactions` (in `job.wtxids`
    /// order).
    public init(job: DeclaredMiningJob, solution: PushSolution, transactions: [[UInt8]]) throws(AssemblyError) {
        guard let declared = try? DeclaredCoinbase(prefix: job.coinbasePrefix, suffix: job.coinbaseSuffix) else {
            throw .invalidCoinbase
        }
        guard solution.extranonce.count == declared.extranonceLength else {
            throw .extranonceLength(got: solution.extranonce.count, expected: declared.extranonceLength)
        }
        let coinbase = job.coinbasePrefix + solution.extranonce + job.coinbaseSuffix
        guard let strippedCoinbase = TransactionSerialization.withoutWitness(coinbase) else {
            throw .unparsableTransaction(index: -1)
        }
        var txids = [SHA256d.hash(strippedCoinbase)]
        txids.reserveCapacity(transactions.count + 1)
        for (index, transaction) in transactions.enumerated() {
            guard let stripped = TransactionSerialization.withoutWitness(transaction) else {
                throw .unparsableTransaction(index: index)
            }
            txids.append(SHA256d.hash(stripped))
        }
        header = BlockHeader(
            version: solution.version, prevHash: JobDeclarationWire.hash(solution.prevHash),
            merkleRoot: MerkleRoot.compute(txids: txids), ntime: solution.ntime, nbits: solution.nbits,
            nonce: solution.nonce)
        self.coinbase = coinbase
        self.transactions = transactions
    }

    /// The consensus serialization: header, transaction count, coinbase, transactions.
    public var bytes: [UInt8] {
        var out = header.bytes
        out.reserveCapacity(BlockHeader.size + 9 + coinbase.count + transactions.reduce(0) { $0 + $1.count })
        CompactSize.append(UInt64(1 + transactions.count), to: &out)
        out += coinbase
        for transaction in transactions { out += transaction }
        return out
    }
}
