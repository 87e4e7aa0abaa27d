import Foundation
import Reactor
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration
@testable import Sv2Mining

/// Unsettled blocks the journal does not hold whole (a pool's block whose template provider never sent its other
/// transactions): ``JournaledBlockSubmission`` asks the node (`getblockheader`) and settles only a block on its best
/// chain; unknown, off its best chain, or a node that cannot be asked leave it unsettled with nothing journaled.
extension JournaledBlockSubmissionTests {
    /// A journal of one found block without block data, its path and its raw bytes.
    static func journalWithoutData(nonce: UInt32) throws -> (block: BlockJournalEntry, path: String, bytes: Data) {
        let block = Blocks.found(nonce: nonce)
        let path = try journal([block])
        return (block, path, try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func aBlockWithoutDataOnTheNodesBestChainIsJournaledAcknowledged() throws {
        let (block, path, _) = try Self.journalWithoutData(nonce: 301)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        try runner.sync { node.headers = [block.hash.displayHex: (height: 151, confirmations: 3)] }
        let results = try Self.submit(runner, node: node, path: path)
        #expect(results.map(\.outcome) == [.onBestChain(height: 151, confirmations: 3)])
        #expect(results.first?.outcome.settled == true && results.first?.journalError == nil)
        #expect(results.first?.outcome.description.hasPrefix("acknowledged (the node has it on its best chain at height 151") == true)
        // Asked about by its hash as RPC prints it; nothing submitted.
        #expect(try runner.sync { node.calls } == ["getblockheader"])
        #expect(try runner.sync { node.headerQueries } == [block.hash.displayHex])
        #expect(try runner.sync { node.submitted }.isEmpty)
        let after = try BlockJournalReader(path: path)
        #expect(after.problems.isEmpty && after.unsettled.isEmpty)
        let record = try #require(after.record(block.hash))
        #expect(record.state == .acknowledged && record.time == 1_800_000_000)
        #expect(record.reason == "the node has it on its best chain at height 151 (3 confirmations); checked with getblockheader (the journal does not hold the whole block)")
    }

    /// A block the node does not know (error -5) or knows off its best chain (confirmations -1) is not settled:
    /// the first may be on another node, the second may still become best. The journal is left byte for byte.
    @Test func aBlockWithoutDataTheNodeDoesNotHaveOnItsBestChainStaysUnsettled() throws {
        let (block, path, before) = try Self.journalWithoutData(nonce: 311)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)

        let unknown = try Self.submit(runner, node: node, path: path)
        #expect(unknown.map(\.outcome) == [.unknownToNode])
        #expect(unknown.first?.outcome.settled == false)
        #expect(unknown.first?.outcome.description.contains("the node does not know it") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        try runner.sync { node.headers = [block.hash.displayHex: (height: 151, confirmations: -1)] }
        let offChain = try Self.submit(runner, node: node, path: path)
        #expect(offChain.map(\.outcome) == [.offBestChain(height: 151)])
        #expect(offChain.first?.outcome.settled == false)
        #expect(offChain.first?.outcome.description.contains("sv2 blocks settle --as superseded") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        // Asked once each time (an answer is not retried), never submitted.
        #expect(try runner.sync { node.calls } == ["getblockheader", "getblockheader"])
        #expect(try runner.sync { node.submitted }.isEmpty)
        #expect(try BlockJournalReader(path: path).unsettled.map(\.hash) == [block.hash])
    }

    /// A node still starting (-28) is asked again on the retry schedule until it answers; a node that stays
    /// starting, or is down, leaves the block unsettled with nothing journaled.
    @Test func aBlockWithoutDataWaitsForTheNodeAndANodeThatStaysAwaySettlesNothing() throws {
        let (block, path, before) = try Self.journalWithoutData(nonce: 321)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let schedule = RetryBackoff(maximumAttempts: 3, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(20))

        // Starting for every attempt.
        try runner.sync { node.errorAnswers = Array(repeating: (-28, "Loading block index…"), count: 5) }
        let waited = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
        #expect(waited.map(\.outcome) == [.notChecked(error: .rpc(method: "getblockheader", code: -28, message: "Loading block index…"))])
        #expect(try runner.sync { node.calls } == ["getblockheader", "getblockheader", "getblockheader"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        // Down: the node is not reached at all.
        try runner.sync { node.errorAnswers = [] }
        let down = try Self.submitToANodeThatIsDown(runner, node: node, path: path)
        guard case .notChecked(let error) = down.outcome else {
            Issue.record("\(down.outcome)")
            return
        }
        #expect(error.isTransient && error.method == "getblockheader" && !down.outcome.settled)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        // Ready at the third attempt: on its best chain, acknowledged.
        try runner.sync {
            node.errorAnswers = Array(repeating: (-28, "Verifying blocks…"), count: 2)
            node.headers = [block.hash.displayHex: (height: 151, confirmations: 1)]
        }
        let callsBefore = try runner.sync { node.calls.count }
        let taken = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
        #expect(taken.map(\.outcome) == [.onBestChain(height: 151, confirmations: 1)])
        #expect(try runner.sync { node.calls.count } == callsBefore + 3)
        #expect(try BlockJournalReader(path: path).record(block.hash)?.state == .acknowledged)
    }

    /// An answer that is not about this block (another hash) or not a usable header is not retried and settles
    /// nothing: another block's header must never settle this one.
    @Test func aBlockWithoutDataIsNeverSettledByAnAnswerAboutAnotherBlockOrAMalformedOne() throws {
        let (block, path, before) = try Self.journalWithoutData(nonce: 331)
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let other = Blocks.found(nonce: 332)
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let answers: [([String: Any]) -> Any] = [
            { $0.merging(["hash": other.hash.displayHex]) { $1 } },
            { $0.merging(["confirmations": 0]) { $1 } },
            { $0.merging(["height": "151"]) { $1 } },
            { _ in "not an object" },
        ]
        for (index, answer) in answers.enumerated() {
            try runner.sync {
                node.headers = [block.hash.displayHex: (height: 151, confirmations: 5)]
                node.headerAnswer = answer
            }
            let results = try Self.submit(runner, node: node, path: path) {
                $0.backoff = RetryBackoff(maximumAttempts: 3, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))
            }
            guard case .notChecked(.malformedResponse(method: "getblockheader", _)) = results.first?.outcome else {
                Issue.record("answer \(index): \(results.map(\.outcome))")
                continue
            }
            #expect(try runner.sync { node.calls.count } == index + 1, "answer \(index) was retried")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
        #expect(try runner.sync { node.submitted }.isEmpty)
    }

    /// The journal refusing the acknowledgement (disk full): the outcome stands, the error is reported with it (and
    /// the block, still unsettled in the journal, is simply asked about again next time).
    @Test func aBlockWithoutDataWhoseAcknowledgementTheJournalRefusesSaysSo() throws {
        let block = Blocks.found(nonce: 341)
        let records = BlockJournalReader(bytes: Array((block.jsonLine + "\n").utf8)).unsettled
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let holder = Box<JournaledBlockSubmission?>(nil)
        try runner.sync {
            node.headers = [block.hash.displayHex: (height: 151, confirmations: 2)]
            let submission = JournaledBlockSubmission(rpc: Self.client(runner, try node.start()), journal: FullDiskJournal())
            holder.value = submission
            submission.submit(records) { results.value = $0 }
        }
        #expect(try runner.wait { results.value != nil })
        let result = try #require(try runner.sync { results.value }?.first)
        #expect(result.outcome == .onBestChain(height: 151, confirmations: 2))
        #expect(result.journalError == .system(call: "write", path: "full-disk", errno: 28))
        try runner.sync { node.stop() }
    }
}
