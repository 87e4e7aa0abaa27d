import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// A pool's own found block journaled whole over a real template link (the embedded template provider on
/// loopback, a miner mining the block on the CPU), and sent to a node from the journal by `sv2 blocks submit`
/// (a child process) against ``FakeBitcoinCore`` when the template provider never took it.
@Suite("A pool's found block journaled whole (loopback, processes)", .serialized)
struct PoolBlockDataAppTests {
    /// A pool on the embedded provider journaling into `directory/blocks`, a miner with an active job, and the
    /// template's transactions (what `RequestTransactionData.Success` carries).
    static func minedBlock(
        _ runner: LoopRunner, directory: String, dropSolutions: Bool
    ) throws -> (service: PoolService, hash: Hash256, transactions: [[UInt8]], coinbase: TestBox<[UInt8]>, client: TestMinerClient) {
        let service = try startPool(runner, configuration: PoolServiceTests.configuration())
        let coinbase = TestBox<[UInt8]>([])
        let provider = try #require(service.embeddedTemplateProvider)
        let transactions = try runner.sync { () throws -> [[UInt8]] in
            service.pool.blockJournal = try BlockJournal(directory: directory + "/blocks")
            let forward = service.pool.onSolution
            service.pool.onSolution = { (solution) throws(Sv2ServiceError) in
                coinbase.value = solution.coinbaseTx
                // The template provider dies with the solution (it never reaches the node): not forwarded.
                if !dropSolutions { try forward?(solution) }
            }
            return provider.source.transactions
        }
        let miner = TestMinerState(extended: true)
        let client = try connectMiner(runner, to: service, state: miner)
        let hash = try runner.sync { () throws -> Hash256 in
            let block = try #require(miner.findShare(meeting: Target(compact: miner.nbits)!))
            try submit(block.fields, extended: true, via: client)
            return block.hash
        }
        #expect(try runner.wait { service.pool.statistics.blocksJournaledWhole + service.pool.statistics.blockDataFailures >= 1 })
        return (service, hash, transactions, coinbase, client)
    }

    /// The whole block the journal must hold: the header the pool found, the coinbase it submitted, the
    /// template's transactions; checked independently of the pool's assembly.
    static func expectedBlock(_ record: FoundBlock, coinbase: [UInt8], transactions: [[UInt8]]) throws -> [UInt8] {
        let txids = [SHA256d.hash(try #require(TransactionSerialization.withoutWitness(coinbase)))]
            + transactions.map { SHA256d.hash($0) }
        #expect(MerkleRoot.compute(txids: txids) == record.header.merkleRoot)
        var bytes = record.header.bytes
        CompactSize.append(UInt64(transactions.count + 1), to: &bytes)
        return bytes + coinbase + transactions.joined()
    }

    /// The provider takes the block: the request went out before the solution (else the provider, which forgets
    /// the template with the block, would have refused it), the journal holds the whole block, then its
    /// acknowledgement; the journal reads back settled.
    @Test func theRequestBeatsTheSolutionOnTheWireAndTheBlockIsJournaledWhole() throws {
        let directory = BlockJournalReaderTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let mined = try Self.minedBlock(runner, directory: directory, dropSolutions: false)
        let provider = try #require(mined.service.embeddedTemplateProvider)
        #expect(try runner.wait { provider.acceptedBlocks.count == 1 && mined.service.pool.statistics.blocksAcknowledged == 1 })
        try runner.sync {
            #expect(mined.service.pool.statistics.blocksJournaledWhole == 1)
            #expect(mined.service.pool.statistics.blockDataFailures == 0)
            #expect(provider.acceptedBlocks[0].hash == mined.hash)
        }
        let lines = try String(contentsOfFile: directory + "/blocks/blocks.jsonl", encoding: .utf8)
            .split(separator: "\n").enumerated()
            .map { try BlockJournalEntry(jsonLine: Array($0.element.utf8)[...], lineNumber: $0.offset + 1) }
        #expect(lines.map(\.event) == [.found, .submitted, .found, .acknowledged])
        let data = try #require(lines[2].blockData)
        let accepted = try runner.sync { provider.acceptedBlocks[0] }
        #expect(data == (try Self.expectedBlock(
            try #require(lines[0].block), coinbase: accepted.coinbaseTransaction, transactions: mined.transactions)))
        #expect(Array(data.prefix(BlockHeader.size)) == accepted.header.bytes)
        let record = try #require(try BlockJournalReader(path: directory + "/blocks").record(mined.hash))
        #expect(record.state == .acknowledged && record.isSettled)
        _ = mined.client
    }

    /// The provider never takes the block (it died with the solution): the journal holds it whole and unsettled,
    /// `sv2 blocks list` says it has its data, and `sv2 blocks submit --rpc` sends exactly that block to the node
    /// and journals the node's verdict.
    @Test func aBlockTheProviderNeverTookIsSubmittedFromTheJournal() throws {
        let directory = BlockJournalReaderTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let mined = try Self.minedBlock(runner, directory: directory, dropSolutions: true)
        try runner.sync {
            #expect(mined.service.pool.statistics.blocksJournaledWhole == 1)
            #expect(mined.service.embeddedTemplateProvider?.acceptedBlocks.isEmpty == true)
            mined.service.stop()
        }
        let reader = try BlockJournalReader(path: directory + "/blocks")
        #expect(reader.problems.isEmpty)
        let record = try #require(reader.unsettled.first)
        #expect(reader.unsettled.count == 1 && record.hash == mined.hash && record.state == .submitted)
        let data = try #require(record.blockData)
        #expect(data == (try Self.expectedBlock(
            try #require(record.block), coinbase: try runner.sync { mined.coinbase.value }, transactions: mined.transactions)))
        #expect(try #require(BlockHeader(bytes: Array(data.prefix(BlockHeader.size)))).hash == mined.hash)

        let list = try BlocksAppTests.app(["blocks", "list", "--journal", directory + "/blocks", "--unsettled"])
        defer { list.kill() }
        #expect(list.waitForExit(timeout: 60) == 0, "\(list.output)")
        #expect(list.output.contains { $0.hasPrefix(mined.hash.displayHex) && $0.contains("block data") && !$0.contains("no block data") })

        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync { try node.start() }
        let cookie = try BlocksAppTests.cookie(in: directory)
        let submit = try BlocksAppTests.app([
            "blocks", "submit", "--journal", directory + "/blocks", "--rpc", "127.0.0.1:\(address.port)", "--rpc-cookie", cookie,
        ])
        defer { submit.kill() }
        #expect(submit.waitForExit(timeout: 60) == 0, "\(submit.output)")
        #expect(try runner.sync { node.submitted } == [data])
        #expect(submit.output.contains { $0.contains("\(mined.hash.displayHex)") && $0.contains("acknowledged (submitblock: accepted)") })
        let after = try BlockJournalReader(path: directory + "/blocks")
        #expect(after.unsettled.isEmpty && after.record(mined.hash)?.state == .acknowledged)
        _ = mined.client
    }
}
