import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// `PoolBlockAssembly` on hand-built blocks: the BIP141 witness commitment is checked as strictly as the merkle root
/// (same txids, other witnesses: the same header, but a block no node takes), and a block that commits to no
/// witnesses may carry none.
@Suite struct PoolBlockAssemblyTests {
    /// A one-input coinbase: `outputs` (serialized, with their count) and, when `reservedValue` is given, the BIP141
    /// marker, flag and that single witness item.
    static func coinbase(outputs: [UInt8], reservedValue: [UInt8]?) -> [UInt8] {
        var tx: [UInt8] = [0x02, 0x00, 0x00, 0x00]
        if reservedValue != nil { tx += [0x00, 0x01] }
        tx += [0x01] + [UInt8](repeating: 0, count: 32) + [0xff, 0xff, 0xff, 0xff]  // the null prevout
        tx += [0x02, 0x01, 0x65, 0xff, 0xff, 0xff, 0xff]  // scriptSig: height 101; sequence
        tx += outputs
        if let reservedValue { tx += [0x01, UInt8(reservedValue.count)] + reservedValue }
        return tx + [0x00, 0x00, 0x00, 0x00]
    }

    /// `transaction` (one input, no witness) with a one-item witness added: its txid stays, its wtxid changes.
    static func withWitness(_ transaction: [UInt8], item: [UInt8] = [0xab]) -> [UInt8] {
        let body = Array(transaction[4..<(transaction.count - 4)])
        let locktime = Array(transaction.suffix(4))
        var bytes = Array(transaction.prefix(4))
        bytes += [0x00, 0x01]
        bytes += body
        bytes += [0x01, UInt8(item.count)]
        bytes += item
        return bytes + locktime
    }

    /// Serialized outputs (count first): the anyone-can-spend payout and, if given, a witness commitment.
    static func outputs(commitment: Hash256?) -> [UInt8] {
        var bytes: [UInt8] = [commitment == nil ? 0x01 : 0x02]
        TxOutput(value: 5_000_000_000, script: [Script.opTrue]).serialize(into: &bytes)
        if let commitment { WitnessCommitment.output(commitment).serialize(into: &bytes) }
        return bytes
    }

    /// A block record whose header commits to `coinbase` and `transactions` (no proof of work: assembly checks
    /// the header against the record's hash, not against a target).
    static func block(coinbase: [UInt8], transactions: [[UInt8]]) throws -> FoundBlock {
        let stripped = try #require(TransactionSerialization.withoutWitness(coinbase))
        let txids = [SHA256d.hash(stripped)] + transactions.map {
            SHA256d.hash(TransactionSerialization.withoutWitness($0)!)
        }
        let header = BlockHeader(
            version: 0x2000_0000, prevHash: .zero, merkleRoot: MerkleRoot.compute(txids: txids), ntime: 1_700_000_000,
            nbits: 0x207f_ffff, nonce: 7)
        return FoundBlock(
            hash: header.hash, header: header, templateID: 1, channelID: 1, userIdentity: "unit",
            coinbaseTransaction: coinbase)
    }

    static let transactions = (1...3).map { EmbeddedTemplateSource.fakeTransaction(spending: SHA256d.hash([UInt8($0)])) }

    /// The commitment over `transactions`' wtxids and `reservedValue`.
    static func commitment(_ transactions: [[UInt8]], reservedValue: [UInt8]) -> Hash256 {
        WitnessCommitment.value(wtxids: transactions.map(SHA256d.hash), reservedValue: reservedValue)
    }

    @Test func witnessesAreCheckedAgainstTheCoinbasesCommitment() throws {
        let reserved = [UInt8](repeating: 0x11, count: 32)
        let withWitnesses = [Self.transactions[0], Self.withWitness(Self.transactions[1]), Self.transactions[2]]
        let coinbase = Self.coinbase(
            outputs: Self.outputs(commitment: Self.commitment(withWitnesses, reservedValue: reserved)),
            reservedValue: reserved)
        let block = try Self.block(coinbase: coinbase, transactions: withWitnesses)
        guard case .success(let bytes) = PoolBlockAssembly.assemble(block, transactions: withWitnesses) else {
            Issue.record("a block matching its commitment was refused")
            return
        }
        #expect(bytes.suffix(withWitnesses.joined().count).elementsEqual(withWitnesses.joined()))

        // The same txids with another witness: the header still matches, the commitment does not.
        let altered = [Self.transactions[0], Self.withWitness(Self.transactions[1], item: [0xcd]), Self.transactions[2]]
        #expect(PoolBlockAssembly.assemble(block, transactions: altered) == .failure(.witnessCommitmentMismatch))
        // The witness dropped: txids unchanged again, commitment broken.
        #expect(PoolBlockAssembly.assemble(block, transactions: Self.transactions) == .failure(.witnessCommitmentMismatch))
        // A commitment but no reserved value in the coinbase's witness: nothing to check it with.
        let bare = Self.coinbase(
            outputs: Self.outputs(commitment: Self.commitment(withWitnesses, reservedValue: reserved)), reservedValue: nil)
        let bareBlock = try Self.block(coinbase: bare, transactions: withWitnesses)
        #expect(
            PoolBlockAssembly.assemble(bareBlock, transactions: withWitnesses) == .failure(.witnessCommitmentMismatch))
    }

    @Test func aCoinbaseWithoutCommitmentAdmitsNoWitness() throws {
        let coinbase = Self.coinbase(outputs: Self.outputs(commitment: nil), reservedValue: nil)
        let block = try Self.block(coinbase: coinbase, transactions: Self.transactions)
        guard case .success = PoolBlockAssembly.assemble(block, transactions: Self.transactions) else {
            Issue.record("a witness-free block without commitment was refused")
            return
        }
        let witnessed = [Self.transactions[0], Self.transactions[1], Self.withWitness(Self.transactions[2])]
        #expect(PoolBlockAssembly.assemble(block, transactions: witnessed) == .failure(.unexpectedWitness(index: 2)))
    }

    @Test func theCommitmentIsReadFromTheLastMatchingOutput() throws {
        let first = SHA256d.hash([1])
        let last = SHA256d.hash([2])
        var outputs: [UInt8] = [0x03]
        for commitment in [first, last] { WitnessCommitment.output(commitment).serialize(into: &outputs) }
        TxOutput(value: 1, script: [Script.opTrue]).serialize(into: &outputs)
        let reserved = [UInt8](repeating: 0, count: 32)
        let parsed = try #require(
            TransactionSerialization.witnessCommitment(ofCoinbase: Self.coinbase(outputs: outputs, reservedValue: reserved)))
        #expect(parsed.commitment == last.bytes && parsed.reservedValue == reserved)
        // Cut short, or two inputs: not a coinbase this can read.
        let whole = Self.coinbase(outputs: outputs, reservedValue: reserved)
        #expect(TransactionSerialization.witnessCommitment(ofCoinbase: Array(whole.dropLast())) == nil)
        var twoInputs = whole
        twoInputs[6] = 0x02
        #expect(TransactionSerialization.witnessCommitment(ofCoinbase: twoInputs) == nil)
    }
}
