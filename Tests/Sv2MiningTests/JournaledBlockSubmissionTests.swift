import Foundation
import Reactor
import Sv2Codec
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration
@testable import Sv2Mining

/// Unsettled blocks read back from the journal and submitted again (``JournaledBlockSubmission``, what `sv2 blocks
/// submit` and `sv2 jd-server --rpc` at start-up do) against ``FakeBitcoinCore``: the node's verdict is journaled
/// (null, "duplicate" and "inconclusive" acknowledged, anything else failed), a node that is down or still starting
/// journals nothing, and blocks without block data are never submitted: the node is asked whether it has them
/// (`getblockheader`), and only one on its best chain is settled (acknowledged).
@Suite("Journaled blocks submitted again", .serialized)
struct JournaledBlockSubmissionTests {
    typealias Blocks = BlockJournalReaderTests

    /// A journal file in a fresh directory holding `entries`; its path.
    static func journal(_ entries: [BlockJournalEntry]) throws -> String {
        let directory = Blocks.temporaryDirectory()
        let journal = try BlockJournal(directory: directory)
        for entry in entries { try journal.append(entry) }
        return journal.path
    }

    /// A client of `address` with the fake's default cookie credentials as user and password.
    static func client(_ runner: LoopRunner, _ address: SocketAddress) -> BitcoinCoreRPCClient {
        var configuration = BitcoinCoreRPCConfiguration(
            endpoint: Endpoint(address), credentials: .user("__cookie__", password: "c00k1e"))
        configuration.connectTimeout = .seconds(2)
        configuration.requestTimeout = .seconds(10)
        return BitcoinCoreRPCClient(configuration: configuration, eventLoop: runner.loop)
    }

    @Test func theNodesVerdictIsJournaledForEveryUnsettledBlockWithItsData() throws {
        let accepted = Blocks.found(nonce: 101, withData: true)
        let duplicate = Blocks.found(nonce: 102, withData: true)
        let refused = Blocks.found(nonce: 103, withData: true)
        let poolBlock = Blocks.found(nonce: 104)
        let settled = Blocks.found(nonce: 105, withData: true)
        let onChain = Blocks.found(nonce: 106)
        let path = try Self.journal([
            accepted, onChain, duplicate, refused, poolBlock, settled,
            .init(event: .submitted, hash: accepted.hash, time: 1_700_000_200),
            .init(event: .superseded, hash: settled.hash, time: 1_700_000_201),
        ])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let unsettled = try BlockJournalReader(path: path).unsettled
        #expect(unsettled.map(\.hash) == [accepted.hash, onChain.hash, duplicate.hash, refused.hash, poolBlock.hash])

        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        node.submitVerdict = { block in
            switch Array(block.prefix(BlockHeader.size)) {
            case duplicate.blockData!.prefix(BlockHeader.size).map({ $0 }): "duplicate"
            case refused.blockData!.prefix(BlockHeader.size).map({ $0 }): "high-hash"
            default: nil
            }
        }
        node.headers = [onChain.hash.displayHex: (height: 151, confirmations: 2)]
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let journal = try BlockJournal(file: path)
        let holder = Box<JournaledBlockSubmission?>(nil)
        try runner.sync {
            let submission = JournaledBlockSubmission(rpc: Self.client(runner, try node.start()), journal: journal)
            submission.wallClock = { 1_800_000_000 }
            holder.value = submission
            submission.submit(unsettled) { results.value = $0 }
        }
        #expect(try runner.wait { results.value != nil })
        let outcomes = try #require(try runner.sync { results.value }).map(\.outcome)
        // One result per block, in the journal's order, whichever way each was settled.
        #expect(outcomes == [
            .acknowledged(verdict: "accepted"), .onBestChain(height: 151, confirmations: 2),
            .acknowledged(verdict: "duplicate"), .rejected(reason: "submitblock: high-hash"), .unknownToNode,
        ])
        // Only blocks with their data went to the node, each once, exactly as journaled; the others were asked about.
        #expect(try runner.sync { node.submitted } == [accepted.blockData!, duplicate.blockData!, refused.blockData!])
        #expect(try runner.sync { node.calls } == ["submitblock", "getblockheader", "submitblock", "submitblock", "getblockheader"])
        #expect(try runner.sync { node.headerQueries } == [onChain.hash.displayHex, poolBlock.hash.displayHex])

        // Read back: only the pool's block the node does not know is still unsettled; the others carry the node's
        // words.
        let after = try BlockJournalReader(path: path)
        #expect(after.problems.isEmpty)
        #expect(after.unsettled.map(\.hash) == [poolBlock.hash])
        #expect(after.record(accepted.hash)?.state == .acknowledged && after.record(accepted.hash)?.time == 1_800_000_000)
        #expect(after.record(onChain.hash)?.state == .acknowledged && after.record(onChain.hash)?.time == 1_800_000_000)
        #expect(after.record(duplicate.hash)?.state == .acknowledged)
        #expect(after.record(duplicate.hash)?.reason?.contains("duplicate") == true)
        #expect(after.record(refused.hash)?.state == .failed && after.record(refused.hash)?.reason == "submitblock: high-hash")
        #expect(after.record(settled.hash)?.state == .superseded)
    }

    /// A node that is down must not settle anything: after the attempts run out the blocks are reported as not
    /// submitted and the journal is untouched, so the next try submits them.
    @Test func aNodeThatIsDownLeavesTheBlocksUnsettled() throws {
        let block = Blocks.found(nonce: 111, withData: true)
        let path = try Self.journal([block])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let result = try Self.submitToANodeThatIsDown(runner, node: node, path: path)
        guard case .notSubmitted(let error) = result.outcome else {
            Issue.record("\(result.outcome)")
            return
        }
        #expect(error.isTransient && !result.outcome.settled)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try BlockJournalReader(path: path).unsettled.map(\.hash) == [block.hash])

        // An RPC error about the block (the node answered) is a verdict: journaled failed.
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let holder = Box<JournaledBlockSubmission?>(nil)
        let journal = try BlockJournal(file: path)
        try runner.sync {
            node.rawAnswer = FakeBitcoinCore.http(
                500, "Internal Server Error",
                json: ["result": NSNull(), "error": ["code": -22, "message": "Block decode failed"], "id": 0])
            let submission = JournaledBlockSubmission(rpc: Self.client(runner, try node.start()), journal: journal)
            holder.value = submission
            results.value = nil
            submission.submit(try BlockJournalReader(path: path).unsettled) { results.value = $0 }
        }
        #expect(try runner.wait { results.value != nil })
        #expect(try runner.sync { results.value }?.map(\.outcome) == [.rejected(reason: "submitblock: error -22: Block decode failed")])
        #expect(try BlockJournalReader(path: path).record(block.hash)?.state == .failed)
    }

    /// Runs a submission of the journal's unsettled blocks at `path` against `node`'s address once `node` has
    /// stopped (nothing listens: every attempt fails to connect), two attempts 10 ms apart; the first result.
    static func submitToANodeThatIsDown(
        _ runner: LoopRunner, node: FakeBitcoinCore, path: String
    ) throws -> JournaledBlockSubmission.Result {
        let holder = Box<JournaledBlockSubmission?>(nil)
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let journal = try BlockJournal(file: path)
        try runner.sync {
            let address = try node.start()
            node.stop()
            let submission = JournaledBlockSubmission(rpc: Self.client(runner, address), journal: journal)
            submission.backoff = RetryBackoff(maximumAttempts: 2, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))
            holder.value = submission
            submission.submit(try BlockJournalReader(path: path).unsettled) { results.value = $0 }
        }
        #expect(try runner.wait { results.value != nil })
        return try #require(try runner.sync { results.value }?.first)
    }

    /// Runs `submission` (configured by `configure`) over the unsettled blocks of the journal at `path` against
    /// `node` and returns the results.
    static func submit(
        _ runner: LoopRunner, node: FakeBitcoinCore, path: String,
        configure: @escaping (JournaledBlockSubmission) -> Void = { _ in }
    ) throws -> [JournaledBlockSubmission.Result] {
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let holder = Box<JournaledBlockSubmission?>(nil)
        let journal = try BlockJournal(file: path)
        let records = try BlockJournalReader(path: path).unsettled
        try runner.sync {
            let submission = JournaledBlockSubmission(rpc: Self.client(runner, try node.start()), journal: journal)
            submission.wallClock = { 1_800_000_000 }
            configure(submission)
            holder.value = submission
            submission.submit(records) { results.value = $0 }
        }
        #expect(try runner.wait { results.value != nil })
        return try #require(try runner.sync {
            node.stop()
            return results.value
        })
    }

    /// `"inconclusive"`: the block is valid but not on the node's best chain yet: the node has it, as with
    /// `"duplicate"`, so it is acknowledged (the JD server's policy), never journaled failed.
    @Test func inconclusiveMeansTheNodeHasTheBlock() throws {
        let block = Blocks.found(nonce: 131, withData: true)
        let path = try Self.journal([block])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        try runner.sync { node.submitVerdict = { _ in "inconclusive" } }
        let results = try Self.submit(runner, node: node, path: path)
        #expect(results.map(\.outcome) == [.acknowledged(verdict: "inconclusive")])
        #expect(results.first?.outcome.settled == true && results.first?.journalError == nil)
        #expect(try runner.sync { node.submitted } == [block.blockData!])
        let after = try BlockJournalReader(path: path)
        #expect(after.unsettled.isEmpty && after.record(block.hash)?.state == .acknowledged)
        #expect(after.record(block.hash)?.reason == "submitblock: inconclusive (resubmitted from the journal)")
    }

    /// A node started together with the pool answers -28 ("Loading block index…") until it is ready: the block is
    /// submitted again until the node takes it, and if the node is still starting after the last attempt nothing
    /// is journaled (the RPC error object must not be taken for a verdict on the block).
    @Test func aNodeStillStartingIsWaitedForAndNeverSettlesTheBlock() throws {
        let block = Blocks.found(nonce: 141, withData: true)
        let path = try Self.journal([block])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let schedule = RetryBackoff(maximumAttempts: 3, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(20))

        // Still starting for every attempt: not submitted, the journal untouched.
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        try runner.sync { node.errorAnswers = Array(repeating: (-28, "Verifying blocks…"), count: 5) }
        let waited = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
        guard case .notSubmitted(let error) = waited.first?.outcome else {
            Issue.record("\(waited.map(\.outcome))")
            return
        }
        #expect(error == .rpc(method: "submitblock", code: -28, message: "Verifying blocks…") && error.isTransient)
        #expect(try runner.sync { node.calls } == ["submitblock", "submitblock", "submitblock"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try BlockJournalReader(path: path).unsettled.map(\.hash) == [block.hash])

        // Ready at the third attempt: acknowledged.
        try runner.sync { node.errorAnswers = Array(repeating: (-28, "Loading block index…"), count: 2) }
        let taken = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
        #expect(taken.map(\.outcome) == [.acknowledged(verdict: "accepted")])
        #expect(try runner.sync { node.calls.count } == 6 && (try runner.sync { node.submitted }) == [block.blockData!])
        #expect(try BlockJournalReader(path: path).record(block.hash)?.state == .acknowledged)
    }

    /// The JD server's submitter hands its own retry schedule to the resubmission; both start from the same
    /// default.
    @Test func theResubmissionRetriesOnTheSubmittersSchedule() throws {
        let whole = Blocks.found(nonce: 151, withData: true)
        let records = BlockJournalReader(bytes: Array((whole.jsonLine + "\n").utf8)).unsettled
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let journal = MemoryBlockJournal()
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let holder = Box<(JobDeclaratorServer, JobDeclarationBlockSubmitter)?>(nil)
        try runner.sync {
            let rpc = Self.client(runner, try node.start())
            let jds = JobDeclaratorServer(coinbaseOutputs: [JobDeclarationTests.payout])
            let submitter = jds.useBitcoinCore(rpc, journal: journal)
            #expect(submitter.backoff == RetryBackoff())
            #expect(JournaledBlockSubmission(rpc: rpc, journal: nil).backoff == submitter.backoff)
            // Two quick attempts: with the default schedule the first retry alone would wait a second, and all
            // of them minutes.
            submitter.backoff = RetryBackoff(maximumAttempts: 2, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))
            holder.value = (jds, submitter)
            node.errorAnswers = Array(repeating: (-28, "Loading block index…"), count: 10)
            submitter.resubmitJournaled(records) { results.value = $0 }
        }
        #expect(try runner.wait(timeout: 10) { results.value != nil })
        #expect(try runner.sync { results.value }?.map(\.outcome)
            == [.notSubmitted(error: .rpc(method: "submitblock", code: -28, message: "Loading block index…"))])
        #expect(try runner.sync { node.calls } == ["submitblock", "submitblock"])
        #expect(try runner.sync { journal.entries }.isEmpty)
        #expect(try runner.sync { holder.value!.1.statistics.journaledBlocksSettled } == 0)
    }

    /// `sv2 jd-server --rpc` at start-up: the JD server's submitter resubmits an earlier run's unsettled blocks
    /// with its own journal and counts what the node settled.
    @Test func theJobDeclarationSubmitterResubmitsJournaledBlocks() throws {
        let whole = Blocks.found(nonce: 121, withData: true)
        let poolBlock = Blocks.found(nonce: 122)
        let records = BlockJournalReader(bytes: Array((whole.jsonLine + "\n" + poolBlock.jsonLine + "\n").utf8)).unsettled
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let journal = MemoryBlockJournal()
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let holder = Box<(JobDeclaratorServer, JobDeclarationBlockSubmitter)?>(nil)
        try runner.sync {
            let jds = JobDeclaratorServer(coinbaseOutputs: [JobDeclarationTests.payout])
            let submitter = jds.useBitcoinCore(Self.client(runner, try node.start()), journal: journal)
            submitter.wallClock = { 1_900_000_000 }
            holder.value = (jds, submitter)
            submitter.resubmitJournaled(records) { results.value = $0 }
        }
        #expect(try runner.wait { results.value != nil })
        #expect(try runner.sync { results.value }?.map(\.outcome) == [.acknowledged(verdict: "accepted"), .unknownToNode])
        #expect(try runner.sync { node.submitted } == [whole.blockData!])
        #expect(try runner.sync { node.headerQueries } == [poolBlock.hash.displayHex])
        let entries = try runner.sync { journal.entries }
        #expect(entries.map(\.event) == [.acknowledged] && entries.first?.hash == whole.hash && entries.first?.time == 1_900_000_000)
        #expect(try runner.sync { holder.value!.1.statistics.journaledBlocksSettled } == 1)
    }
}
