import Dispatch
import Foundation
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// No found block is ever lost (issue 12, items 1–3): journaled before it is submitted, submitted before the share
/// is acknowledged, kept until the chain tip settles it, re-submitted after the template source comes back.
@Suite struct FoundBlockTests {
    /// A pool on a regtest-easy network target (half of all hashes are blocks) with a chain tip, and a miner.
    static func setUp(
        _ configure: (inout PoolConfiguration) -> Void = { _ in }
    ) throws -> (Pool, PoolUnitMiner, EmbeddedTemplateSource) {
        let pool = try PoolTests.makePool {
            $0.ackBatchSize = 1
            configure(&$0)
        }
        let source = EmbeddedTemplateSource(prevHash: PoolTests.genesis, now: 1_700_000_000)
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        let miner = try PoolUnitMiner(pool: pool, connection: 1, tip: source.chainTip)
        return (pool, miner, source)
    }

    static func block(_ miner: PoolUnitMiner) -> (SubmitSharesStandard, Hash256) {
        miner.share(meeting: Target(compact: miner.nbits)!)
    }

    @Test func theBlockIsSubmittedEvenWhenItsAcknowledgementCannotBeSent() throws {
        let (pool, miner, _) = try Self.setUp()
        var solutions: [SubmitSolution] = []
        pool.onSolution = { solutions.append($0) }
        let (share, hash) = Self.block(miner)
        // The peer's write buffer is full: sending the acknowledgement throws (and closes that connection).
        #expect(throws: Sv2ServiceError.notConnected) {
            try miner.submit(share, reply: FailingAckSink(recorder: Recorder()))
        }
        #expect(solutions.count == 1)
        #expect(pool.statistics.solutionsSubmitted == 1 && pool.statistics.blocksFound == 1)
        #expect(pool.unsettledBlockCount == 1)
        _ = hash
    }

    /// A job stays valid as long as its channel's validator holds it; with more active jobs than the pool used to keep
    /// templates (32), a block on the oldest job was "template gone" and never submitted. Templates now outlive every
    /// job a validator can hold.
    @Test func aJobOutlivingManyTemplatesStillHasItsTemplate() throws {
        let (pool, miner, source) = try Self.setUp { $0.maximumActiveJobs = 40 }
        var source2 = source
        var solutions: [SubmitSolution] = []
        pool.onSolution = { solutions.append($0) }
        // 35 fresh templates on the same tip: each becomes an active job of the channel (the miner keeps its first).
        for _ in 0..<35 { try pool.receive(template: source2.refresh()) }
        let (share, _) = Self.block(miner)
        _ = try miner.submit(share)
        #expect(pool.statistics.blocksFound == 1 && pool.statistics.blocksFailed == 0)
        #expect(solutions.count == 1 && pool.statistics.solutionsSubmitted == 1)
    }

    /// The failure path itself (a template missing when its job's block comes in, which retention now prevents): the
    /// block is journaled as found and failed with everything known about it, counted, and the share still credited.
    @Test func aBlockWhoseTemplateIsGoneIsJournaledAsFailed() throws {
        let (pool, miner, _) = try Self.setUp()
        let journal = MemoryJournal()
        pool.blockJournal = journal
        pool.templates.removeAll()
        let (share, hash) = Self.block(miner)
        let answers = try miner.submit(share)
        #expect(pool.statistics.blocksFound == 1 && pool.statistics.blocksFailed == 1)
        #expect(pool.statistics.solutionsSubmitted == 0 && pool.statistics.sharesAccepted == 1)
        #expect(journal.entries.map(\.event) == [.found, .failed] && journal.entries.allSatisfy { $0.hash == hash })
        #expect(answers.contains { $0 is SubmitSharesSuccess })
    }

    @Test func journaledBeforeSubmittedWithEverythingToRebuildIt() throws {
        let (pool, miner, source) = try Self.setUp()
        let log = TestBox<[String]>([])
        let journal = MemoryJournal(log: log)
        pool.blockJournal = journal
        pool.wallClock = { 1_800_000_000 }
        pool.onSolution = { _ in log.value.append("submit") }
        let (share, hash) = Self.block(miner)
        try miner.submit(share)
        #expect(log.value == ["journal found", "submit", "journal submitted"])
        let found = try #require(journal.entries.first)
        #expect(found.event == .found && found.hash == hash && found.time == 1_800_000_000)
        #expect(found.height == source.height)
        let block = try #require(found.block)
        #expect(block.header.hash == hash && block.header.prevHash == PoolTests.genesis)
        #expect(block.templateID == source.template.templateID && block.channelID == miner.channelID)
        #expect(block.userIdentity == "miner1")
        // The coinbase carries its witness and, stripped, hashes to the txid the header commits to.
        let stripped = try #require(TransactionSerialization.withoutWitness(block.coinbaseTransaction))
        #expect(stripped != block.coinbaseTransaction)
        #expect(MerkleRoot.compute(coinbaseTxid: SHA256d.hash(stripped), path: source.template.merklePath)
            == block.header.merkleRoot)

        // The line is real JSON with the same facts, in explorer byte order.
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(found.jsonLine.utf8)) as? [String: Any])
        #expect(object["event"] as? String == "found" && object["hash"] as? String == hash.displayHex)
        #expect(object["header"] as? String == Sv2Hex.encode(block.header.bytes))
        #expect(object["coinbase"] as? String == Sv2Hex.encode(block.coinbaseTransaction))
        #expect(object["prev_hash"] as? String == PoolTests.genesis.displayHex)
        #expect((object["height"] as? NSNumber)?.uint32Value == source.height)

        // The chain tip moving onto the block acknowledges it.
        let accepted = source.acceptingBlock(hash: hash)
        try pool.receive(template: accepted.template)
        try pool.receive(chainTip: accepted.chainTip)
        #expect(journal.entries.map(\.event) == [.found, .submitted, .acknowledged])
        #expect(pool.statistics.blocksAcknowledged == 1 && pool.unsettledBlockCount == 0)
    }

    @Test func aJournalThatFailsDoesNotStopTheSubmission() throws {
        let (pool, miner, _) = try Self.setUp()
        let journal = MemoryJournal()
        journal.failing = true
        pool.blockJournal = journal
        var submitted = 0
        pool.onSolution = { _ in submitted += 1 }
        try miner.submit(Self.block(miner).0)
        #expect(submitted == 1 && pool.statistics.journalFailures == 2)  // found + submitted
    }

    /// The first submission fails (template source down): the block is kept, not marked solved, and submitted when
    /// the source is back on the same previous block; a sibling found meanwhile is not dropped either.
    @Test func aFailedSubmissionIsRetriedAndSiblingsAreKept() throws {
        let (pool, miner, source) = try Self.setUp()
        let journal = MemoryJournal()
        pool.blockJournal = journal
        var sourceUp = false
        var solutions: [SubmitSolution] = []
        pool.onSolution = { (solution) throws(Sv2ServiceError) in
            guard sourceUp else { throw .notConnected }
            solutions.append(solution)
        }
        let (first, firstHash) = Self.block(miner)
        let replies = try miner.submit(first)
        #expect(replies.contains { $0 is SubmitSharesSuccess })  // the miner is credited either way
        #expect(solutions.isEmpty && pool.statistics.submissionFailures == 1)
        let (second, secondHash) = Self.block(miner)
        try miner.submit(second)
        #expect(pool.unsettledBlockCount == 2 && pool.statistics.redundantBlocks == 0)

        // The link drops and comes back; the source announces the same chain tip again.
        pool.templateSourceLost()
        sourceUp = true
        pool.templateSourceConnected()
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        #expect(solutions.count == 1)
        #expect(solutions.first.map { $0.headerNonce } == first.nonce)
        // One submission is in flight per previous block; when it is not taken within the acknowledgement
        // timeout, the sibling goes too.
        pool.tick(now: pool.clock())
        #expect(solutions.count == 1)
        pool.tick(now: pool.clock() + 60)
        #expect(solutions.map(\.headerNonce) == [first.nonce, second.nonce])
        #expect(journal.entries.filter { $0.event == .found }.map(\.hash) == [firstHash, secondHash])

        // The chain moves onto the second block: it is acknowledged, the first superseded.
        let accepted = source.acceptingBlock(hash: secondHash)
        try pool.receive(template: accepted.template)
        try pool.receive(chainTip: accepted.chainTip)
        #expect(pool.statistics.blocksAcknowledged == 1 && pool.statistics.blocksSuperseded == 1)
        #expect(journal.entries.suffix(2).map(\.event).sorted { $0.rawValue < $1.rawValue } == [.acknowledged, .superseded])
    }

    @Test func aBlockHandedToALinkThatDiedIsSubmittedAgainOnTheNextOne() throws {
        let (pool, miner, source) = try Self.setUp()
        var solutions: [SubmitSolution] = []
        pool.onSolution = { solutions.append($0) }
        try miner.submit(Self.block(miner).0)
        #expect(solutions.count == 1)
        pool.templateSourceLost()
        pool.templateSourceConnected()
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        #expect(solutions.count == 2 && solutions[0] == solutions[1])
    }

    @Test func withoutATemplateSourceNoNewWorkIsHandedOut() throws {
        let (pool, _, source) = try Self.setUp()
        pool.templateSourceLost()
        let late = try PoolTests.openStandard(pool, connection: 7)
        #expect(late.all(OpenStandardMiningChannelSuccess.self).count == 1)
        #expect(late.all(NewMiningJob.self).isEmpty && late.all(SetNewPrevHash.self).isEmpty)
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        #expect(pool.templateSourceAvailable)
        let after = try PoolTests.openStandard(pool, connection: 8)
        #expect(after.all(NewMiningJob.self).count == 1)
    }

    @Test func theSameBlockIsNeverCreditedOrSubmittedTwice() throws {
        let (pool, miner, _) = try Self.setUp()
        var submitted = 0
        pool.onSolution = { _ in submitted += 1 }
        let (share, _) = Self.block(miner)
        try miner.submit(share)
        let again = try miner.submit(share)
        #expect(again.compactMap { $0 as? SubmitSharesError }.map(\.errorCode) == ["duplicate-share"])
        #expect(submitted == 1 && pool.statistics.sharesAccepted == 1 && pool.statistics.blocksFound == 1)
    }

    /// The loops of a multi-core pool share one journal: appends from several threads at once never interleave.
    @Test func appendsFromSeveralThreadsStayWholeLines() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-journal-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try BlockJournal(directory: directory)
        // Long lines (a 3 KB reason each). One O_APPEND write is usually atomic on Linux anyway; what the lock adds
        // is that a short write's remainder follows its own start and each line's fsync is its own. This checks the
        // contract the multi-loop pool relies on: every line whole, none lost.
        let reason = String(repeating: "x", count: 3_000)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<25 {
                try? journal.append(BlockJournalEntry(
                    event: .failed, hash: .zero, time: UInt64(thread * 100 + index), reason: reason))
            }
        }
        let lines = try String(contentsOfFile: journal.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        var times = Set<Int>()
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["reason"] as? String == reason)
            if let time = object["time"] as? Int { times.insert(time) }
        }
        #expect(times.count == 100)
    }

    @Test func theFileJournalIsAppendOnlyJSONLines() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-journal-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (pool, miner, _) = try Self.setUp()
        pool.blockJournal = try BlockJournal(directory: directory + "/nested/blocks")
        pool.onSolution = { _ in }
        try miner.submit(Self.block(miner).0)
        try miner.submit(Self.block(miner).0)
        // A second journal on the same directory appends (a restarted pool keeps the history).
        let reopened = try BlockJournal(directory: directory + "/nested/blocks")
        try reopened.append(BlockJournalEntry(event: .failed, hash: .zero, time: 1, reason: "say \"hi\"\n"))
        let text = try String(contentsOfFile: reopened.path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4)  // found, submitted, found (sibling, held), failed
        for line in lines {
            #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        }
        let last = try #require(try JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as? [String: Any])
        #expect(last["reason"] as? String == "say \"hi\"\n")
    }
}

extension EmbeddedTemplateSource {
    /// The source after the network took the block `hash` (test shortcut: no header checks).
    func acceptingBlock(hash: Hash256) -> EmbeddedTemplateSource {
        EmbeddedTemplateSource(
            configuration: configuration, height: height + 1, prevHash: hash, now: chainTip.headerTimestamp + 1)
    }
}
