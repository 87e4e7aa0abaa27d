import Foundation
import Logging
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// A pool's own found block made whole in the journal (``Pool/onTransactionDataRequest``): the request for its
/// template's transactions goes out before its `SubmitSolution`, the answer is checked and journaled as a second
/// `found` line carrying the block, and every failure (refusal, mismatch, timeout, link drop) is logged and leaves
/// the journal as it was. Driven without sockets; `PoolServiceTests` covers the same over loopback.
@Suite struct PoolBlockDataTests {
    /// A pool with a journal, a request hook and a solution hook writing to one ordered log, a controllable clock,
    /// and a miner on the embedded source's template.
    struct Fixture {
        let pool: Pool
        let miner: PoolUnitMiner
        let source: EmbeddedTemplateSource
        let journal: MemoryJournal
        let log: TestBox<[String]>
        let warnings: JournalLog
        let now: TestBox<Double>
        let forwarded: TestBox<[(UInt64, [[UInt8]]?)]>

        init() throws {
            let warnings = JournalLog()
            var configuration = PoolConfiguration(payoutScript: testPayoutScript, poolTag: "unit")
            configuration.ackBatchSize = 1
            pool = try Pool(configuration: configuration, logger: warnings.logger)
            // Three transactions besides the coinbase: the merkle tree has levels to get wrong.
            source = EmbeddedTemplateSource(prevHash: PoolTests.genesis, now: 1_700_000_000)
            try pool.receive(template: source.template)
            try pool.receive(chainTip: source.chainTip)
            miner = try PoolUnitMiner(pool: pool, connection: 1, tip: source.chainTip)
            let log = TestBox<[String]>([])
            journal = MemoryJournal(log: log)
            let now = TestBox(1000.0)
            let forwarded = TestBox<[(UInt64, [[UInt8]]?)]>([])
            pool.blockJournal = journal
            pool.clock = { now.value }
            pool.onSolution = { _ in log.value.append("submit") }
            pool.onTransactionDataRequest = { log.value.append("request \($0.templateID)") }
            pool.onTransactionData = { id, transactions, _ in forwarded.value.append((id, transactions)) }
            self.log = log
            self.warnings = warnings
            self.now = now
            self.forwarded = forwarded
        }

        /// Mines and submits a block; its hash.
        func findBlock() throws -> Hash256 {
            let (share, hash) = miner.share(meeting: Target(compact: miner.nbits)!)
            _ = try miner.submit(share)
            return hash
        }

        /// The journal's lines read back as a file would be.
        var reader: BlockJournalReader {
            BlockJournalReader(bytes: Array(journal.entries.map { $0.jsonLine + "\n" }.joined().utf8))
        }
    }

    /// The whole block by hand: header, count, coinbase with witness, the template's transactions.
    static func expectedBlock(_ entry: BlockJournalEntry, _ transactions: [[UInt8]]) throws -> [UInt8] {
        let block = try #require(entry.block)
        var bytes = block.header.bytes
        CompactSize.append(UInt64(transactions.count + 1), to: &bytes)
        return bytes + block.coinbaseTransaction + transactions.joined()
    }

    @Test func theRequestGoesFirstAndTheAnswerJournalsTheWholeBlock() throws {
        let fixture = try Fixture()
        let templateID = fixture.source.template.templateID
        #expect(fixture.source.transactions.count >= 2)
        let hash = try fixture.findBlock()
        // Asked before submitted: same call, so the same flush on a real link, request first.
        #expect(fixture.log.value == ["journal found", "request \(templateID)", "submit", "journal submitted"])

        fixture.pool.receiveTransactionData(templateID: templateID, transactions: fixture.source.transactions, excessData: [])
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted, .found])
        let found = fixture.journal.entries[0]
        let whole = fixture.journal.entries[2]
        #expect(whole.hash == hash && whole.block == found.block && whole.height == found.height)
        let data = try #require(whole.blockData)
        #expect(data == (try Self.expectedBlock(found, fixture.source.transactions)))
        // Independent check: the header in the data hashes to the block, and its merkle root is the root of the
        // txids (coinbase stripped of its witness, then the template's transactions).
        let header = try #require(BlockHeader(bytes: Array(data.prefix(BlockHeader.size))))
        #expect(header.hash == hash)
        let coinbaseTxid = SHA256d.hash(try #require(TransactionSerialization.withoutWitness(found.block!.coinbaseTransaction)))
        #expect(MerkleRoot.compute(txids: [coinbaseTxid] + fixture.source.transactionIDs) == header.merkleRoot)
        #expect(fixture.pool.statistics.blocksJournaledWhole == 1 && fixture.pool.statistics.blockDataFailures == 0)
        #expect(fixture.forwarded.value.isEmpty)

        // Read back: still submitted and unsettled (the data line changes no state), now with the block.
        let reader = fixture.reader
        #expect(reader.problems.isEmpty)
        let record = try #require(reader.record(hash))
        #expect(record.state == .submitted && !record.isSettled && record.blockData == data)
        #expect(record.foundLine == 1 && record.time == found.time && record.foundTime == found.time)
        #expect(reader.unsettled.map(\.hash) == [hash])

        // The chain tip moving onto it settles it as before; the accounting of events is unchanged.
        let accepted = fixture.source.acceptingBlock(hash: hash)
        try fixture.pool.receive(template: accepted.template)
        try fixture.pool.receive(chainTip: accepted.chainTip)
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted, .found, .acknowledged])
        let settled = try #require(fixture.reader.record(hash))
        #expect(settled.state == .acknowledged && settled.isSettled && fixture.reader.unsettled.isEmpty)
    }

    @Test func aRefusalIsLoggedAndTheJournalStaysAsItWas() throws {
        let fixture = try Fixture()
        let templateID = fixture.source.template.templateID
        let hash = try fixture.findBlock()
        fixture.pool.receiveTransactionData(
            templateID: templateID, transactions: nil, excessData: [], errorCode: "stale-template-id")
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted])
        #expect(fixture.pool.statistics.blockDataFailures == 1 && fixture.pool.statistics.blocksJournaledWhole == 0)
        #expect(fixture.warnings.warnings.contains {
            $0.contains(hash.description) && $0.contains("refused") && $0.contains("stale-template-id")
        })
        // The refusal was the block's: nothing reached the other users of the link.
        #expect(fixture.forwarded.value.isEmpty)
        let reader = fixture.reader
        #expect(reader.problems.isEmpty)
        let record = try #require(reader.record(hash))
        #expect(record.state == .submitted && !record.isSettled && record.blockData == nil)
    }

    @Test func transactionsThatDoNotMakeTheBlockAreRefused() throws {
        let fixture = try Fixture()
        let templateID = fixture.source.template.templateID
        let hash = try fixture.findBlock()
        // The template's transactions in another order (or one missing): another merkle root.
        fixture.pool.receiveTransactionData(
            templateID: templateID, transactions: fixture.source.transactions.reversed(), excessData: [])
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted])
        #expect(fixture.warnings.warnings.contains { $0.contains(hash.description) && $0.contains("merkle root") })
        #expect(fixture.pool.statistics.blockDataFailures == 1)
        #expect(fixture.reader.record(hash)?.blockData == nil)

        // Garbage as a transaction is refused too, naming it.
        let unparsable = PoolBlockAssembly.assemble(
            fixture.journal.entries[0].block!, transactions: [fixture.source.transactions[0], [1, 2, 3]])
        #expect(unparsable == .failure(.malformedTransaction(index: 1)))
        // A block record whose header is not the block's hash.
        var forged = fixture.journal.entries[0].block!
        forged.header.nonce &+= 1
        let mismatch = PoolBlockAssembly.assemble(forged, transactions: fixture.source.transactions)
        #expect(mismatch == .failure(.headerHashMismatch(forged.header.hash)))
        // More bytes than a block can hold.
        let huge = [[UInt8]](repeating: [UInt8](repeating: 0, count: 1 << 20), count: 4)
        guard case .failure(.tooLarge) = PoolBlockAssembly.assemble(fixture.journal.entries[0].block!, transactions: huge) else {
            Issue.record("a 4 MiB answer was assembled")
            return
        }
    }

    /// A Job Declaration server asked for the same template before the block did: the first answer is the JD
    /// server's, the second the block's, whatever each says.
    @Test func answersGoToWhoeverAskedInWireOrder() throws {
        let fixture = try Fixture()
        let templateID = fixture.source.template.templateID
        try fixture.pool.requestTransactionData(templateID: templateID)
        _ = try fixture.findBlock()
        #expect(fixture.log.value == ["request \(templateID)", "journal found", "request \(templateID)", "submit", "journal submitted"])
        fixture.pool.receiveTransactionData(
            templateID: templateID, transactions: nil, excessData: [], errorCode: "template-id-not-found")
        #expect(fixture.forwarded.value.count == 1 && fixture.forwarded.value[0].1 == nil)
        #expect(fixture.pool.statistics.blockDataFailures == 0)
        fixture.pool.receiveTransactionData(templateID: templateID, transactions: fixture.source.transactions, excessData: [])
        #expect(fixture.forwarded.value.count == 1)
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted, .found])
        // An answer nobody recorded asking for goes to the other users, as before.
        fixture.pool.receiveTransactionData(templateID: 99, transactions: [], excessData: [])
        #expect(fixture.forwarded.value.count == 2 && fixture.forwarded.value[1].0 == 99)
    }

    @Test func noAnswerInTimeIsLoggedAndALateAnswerIsIgnored() throws {
        let fixture = try Fixture()
        let templateID = fixture.source.template.templateID
        let hash = try fixture.findBlock()
        fixture.pool.tick(now: fixture.now.value + 29)
        #expect(fixture.pool.statistics.blockDataFailures == 0)
        fixture.now.value += 31
        fixture.pool.tick(now: fixture.now.value)
        #expect(fixture.pool.statistics.blockDataFailures == 1)
        #expect(fixture.warnings.warnings.contains { $0.contains(hash.description) && $0.contains("did not answer") })
        fixture.pool.receiveTransactionData(templateID: templateID, transactions: fixture.source.transactions, excessData: [])
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted])
        #expect(fixture.forwarded.value.isEmpty)
    }

    /// The link drops before the answer: the wait ends (logged); the block is asked for again when it is submitted
    /// again on the new link, and that answer journals it.
    @Test func aDroppedLinkEndsTheWaitAndTheResubmissionAsksAgain() throws {
        let fixture = try Fixture()
        let templateID = fixture.source.template.templateID
        let hash = try fixture.findBlock()
        fixture.pool.templateSourceLost()
        #expect(fixture.warnings.warnings.contains { $0.contains(hash.description) && $0.contains("link dropped") })
        fixture.pool.templateSourceConnected()
        fixture.log.value.removeAll()
        try fixture.pool.receive(chainTip: fixture.source.chainTip)
        #expect(fixture.log.value == ["request \(templateID)", "submit", "journal submitted"])
        fixture.pool.receiveTransactionData(templateID: templateID, transactions: fixture.source.transactions, excessData: [])
        #expect(fixture.journal.entries.map(\.event) == [.found, .submitted, .submitted, .found])
        #expect(fixture.reader.record(hash)?.blockData != nil && fixture.pool.statistics.blockDataFailures == 1)
        // Journaled whole: a later submission does not ask again.
        fixture.pool.templateSourceConnected()
        fixture.log.value.removeAll()
        try fixture.pool.receive(chainTip: fixture.source.chainTip)
        #expect(fixture.log.value == ["submit", "journal submitted"])
    }

    @Test func withoutAJournalNothingIsAsked() throws {
        let fixture = try Fixture()
        fixture.pool.blockJournal = nil
        _ = try fixture.findBlock()
        #expect(fixture.log.value == ["submit"])
    }

    /// At most ``BlockDataRequests/maximumBlocks`` blocks wait; blocks on one template share one request.
    @Test func waitingBlocksAreBounded() {
        var requests = BlockDataRequests()
        func block(_ nonce: UInt32, template: UInt64) -> FoundBlock {
            let header = BlockJournalReaderTests.header(nonce: nonce)
            return FoundBlock(
                hash: header.hash, header: header, templateID: template, channelID: 1, userIdentity: "u",
                coinbaseTransaction: [])
        }
        #expect(requests.want(block(0, template: 1), height: nil, deadline: 10) == .send)
        requests.sent(templateID: 1, purpose: .foundBlocks)
        #expect(requests.want(block(0, template: 1), height: nil, deadline: 10) == .nothing)
        #expect(requests.want(block(1, template: 1), height: nil, deadline: 10) == .joined)
        for nonce in 2..<UInt32(BlockDataRequests.maximumBlocks) {
            #expect(requests.want(block(nonce, template: UInt64(nonce)), height: nil, deadline: 10) == .send)
        }
        #expect(requests.want(block(100, template: 100), height: nil, deadline: 10) == .full)
        let answered = requests.answer(templateID: 1)
        #expect(answered.purpose == .foundBlocks && answered.blocks.count == 2)
        for index in 0..<(BlockDataRequests.maximumOutstanding + 10) { requests.sent(templateID: UInt64(index), purpose: .forwarded) }
        #expect(requests.outstanding.count == BlockDataRequests.maximumOutstanding)
    }
}
