import Foundation
import Reactor
import Sv2Codec
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration
@testable import Sv2Mining

/// Unsettled blocks read back from the journal and submitted again (``JournaledBlockSubmission``, what `sv2 blocks
/// submit` and `sv2 jd-server --rpc` at start-up do) against ``FakeBitcoinCore``: the node's verdict is journaled
/// (null acknowledged; "duplicate" and "inconclusive" acknowledged only once `getblockheader` finds the block on the
/// node's best chain; other answers and error -22 failed), a node that is down or still starting journals nothing
/// (and spares the blocks after it the same wait), and blocks without block data are never submitted: the node is
/// asked whether it has them (`getblockheader`), and only one on its best chain is settled (acknowledged).
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
        node.headers = [
            onChain.hash.displayHex: (height: 151, confirmations: 2), duplicate.hash.displayHex: (height: 151, confirmations: 4),
        ]
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
            .acknowledged(verdict: "duplicate", bestChain: .init(height: 151, confirmations: 4)),
            .rejected(reason: "submitblock: high-hash"), .unknownToNode,
        ])
        // Only blocks with their data went to the node, each once, exactly as journaled; the others were asked about.
        #expect(try runner.sync { node.submitted } == [accepted.blockData!, duplicate.blockData!, refused.blockData!])
        // The duplicate was looked up after its answer, as the blocks without data were.
        #expect(try runner.sync { node.calls }
            == ["submitblock", "getblockheader", "submitblock", "getblockheader", "submitblock", "getblockheader"])
        #expect(try runner.sync { node.headerQueries }
            == [onChain.hash.displayHex, duplicate.hash.displayHex, poolBlock.hash.displayHex])

        // Read back: only the pool's block the node does not know is still unsettled; the others carry the node's
        // words.
        let after = try BlockJournalReader(path: path)
        #expect(after.problems.isEmpty)
        #expect(after.unsettled.map(\.hash) == [poolBlock.hash])
        #expect(after.record(accepted.hash)?.state == .acknowledged && after.record(accepted.hash)?.time == 1_800_000_000)
        #expect(after.record(onChain.hash)?.state == .acknowledged && after.record(onChain.hash)?.time == 1_800_000_000)
        #expect(after.record(duplicate.hash)?.state == .acknowledged)
        #expect(after.record(duplicate.hash)?.reason
            == "submitblock: duplicate; the node has it on its best chain at height 151 (4 confirmations) (resubmitted from the journal)")
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

    /// `"duplicate"` and `"inconclusive"` say the node stored the block, not that it is on its best chain (a
    /// duplicate may have lost the race or been reorged out; an inconclusive block was not connected): each is
    /// followed by `getblockheader`, and only a block on the best chain is journaled acknowledged.
    @Test func duplicateOrInconclusiveIsSettledOnlyOnTheNodesBestChain() throws {
        for (index, verdict) in ["duplicate", "inconclusive"].enumerated() {
            let block = Blocks.found(nonce: 131 + UInt32(index), withData: true)
            let path = try Self.journal([block])
            defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let runner = try LoopRunner(.epoll)
            defer { runner.stop() }
            let node = FakeBitcoinCore(loop: runner.loop)
            let hash = block.hash.displayHex
            let schedule = RetryBackoff(maximumAttempts: 3, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))

            // Stored off the best chain (an orphan): not settled, the operator is told how to settle it.
            try runner.sync {
                node.submitVerdict = { _ in verdict }
                node.headers = [hash: (height: 151, confirmations: -1)]
            }
            let off = try Self.submit(runner, node: node, path: path)
            #expect(off.map(\.outcome) == [.storedOffBestChain(verdict: verdict, height: 151)], "\(verdict)")
            #expect(off.first?.outcome.settled == false)
            #expect(off.first?.outcome.description.contains("sv2 blocks settle --as superseded") == true)
            #expect(try runner.sync { node.calls } == ["submitblock", "getblockheader"])
            #expect(try runner.sync { node.headerQueries } == [hash])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

            // Unknown to the node, which contradicts its answer: not settled.
            try runner.sync { node.headers = [:] }
            let unknown = try Self.submit(runner, node: node, path: path)
            #expect(unknown.map(\.outcome) == [.storedButUnknown(verdict: verdict)], "\(verdict)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

            // The node cannot be asked (still starting for every attempt of the check): retried, then not settled.
            try runner.sync {
                node.headers = [hash: (height: 151, confirmations: 3)]
                node.failingMethods = ["getblockheader": (-28, "Loading block index…")]
            }
            let callsBefore = try runner.sync { node.calls.count }
            let unchecked = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
            #expect(unchecked.map(\.outcome) == [.storedNotChecked(
                verdict: verdict, error: .rpc(method: "getblockheader", code: -28, message: "Loading block index…"))])
            #expect(try runner.sync { Array(node.calls.dropFirst(callsBefore)) }
                == ["submitblock", "getblockheader", "getblockheader", "getblockheader"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

            // On its best chain: acknowledged, the reason naming both answers.
            try runner.sync { node.failingMethods = [:] }
            let on = try Self.submit(runner, node: node, path: path)
            #expect(on.map(\.outcome) == [.acknowledged(verdict: verdict, bestChain: .init(height: 151, confirmations: 3))])
            #expect(on.first?.outcome.settled == true && on.first?.journalError == nil)
            #expect(on.first?.outcome.description
                == "acknowledged (submitblock: \(verdict); the node has it on its best chain at height 151 (3 confirmations))")
            let after = try BlockJournalReader(path: path)
            #expect(after.unsettled.isEmpty && after.record(block.hash)?.state == .acknowledged)
            #expect(after.record(block.hash)?.reason
                == "submitblock: \(verdict); the node has it on its best chain at height 151 (3 confirmations) (resubmitted from the journal)")
            #expect(try runner.sync { node.submitted.count } == 4)
        }
    }

    /// Only error -22 (the block could not be decoded) judges the block; any other RPC error object (here -32603,
    /// an internal error of the node) leaves it unsettled, is not retried, and does not stop the run.
    @Test func anRPCErrorOtherThanADecodeFailureSettlesNothing() throws {
        let first = Blocks.found(nonce: 161, withData: true)
        let second = Blocks.found(nonce: 162, withData: true)
        let path = try Self.journal([first])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        try BlockJournal(file: path).append(second)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        try runner.sync { node.errorAnswers = [(-32603, "Internal error")] }
        let results = try Self.submit(runner, node: node, path: path) {
            $0.backoff = RetryBackoff(maximumAttempts: 3, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))
        }
        #expect(results.map(\.outcome) == [
            .notSubmitted(error: .rpc(method: "submitblock", code: -32603, message: "Internal error")),
            .acknowledged(verdict: "accepted"),
        ])
        #expect(try runner.sync { node.calls } == ["submitblock", "submitblock"])
        let after = try BlockJournalReader(path: path)
        #expect(after.unsettled.map(\.hash) == [first.hash] && after.record(second.hash)?.state == .acknowledged)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(before.count) == before)
    }

    /// A node that is still down (or starting) after one block's retries is not waited for again for each next
    /// block: they are left unsettled at once with the same error, without a call (one schedule per run, not one
    /// per block), whether they hold their data or not.
    @Test func aNodeDownAfterOneBlocksRetriesIsNotWaitedForAgain() throws {
        let first = Blocks.found(nonce: 171, withData: true)
        let withoutData = Blocks.found(nonce: 172)
        let third = Blocks.found(nonce: 173, withData: true)
        let path = try Self.journal([first, withoutData, third])
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let schedule = RetryBackoff(maximumAttempts: 2, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))
        let starting = BitcoinCoreRPCError.rpc(method: "submitblock", code: -28, message: "Loading block index…")
        try runner.sync { node.failingMethods = ["submitblock": (-28, "Loading block index…"), "getblockheader": (-28, "Loading block index…")] }
        let results = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
        #expect(results.map(\.outcome) == [.notSubmitted(error: starting), .notChecked(error: starting), .notSubmitted(error: starting)])
        #expect(try runner.sync { node.calls } == ["submitblock", "submitblock"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        // The same after a stored block's check ran out of retries: the block after it is not tried.
        let checkStarting = BitcoinCoreRPCError.rpc(method: "getblockheader", code: -28, message: "Loading block index…")
        try runner.sync {
            node.failingMethods = ["getblockheader": (-28, "Loading block index…")]
            node.submitVerdict = { _ in "duplicate" }
        }
        let callsBefore = try runner.sync { node.calls.count }
        let stored = try Self.submit(runner, node: node, path: path) { $0.backoff = schedule }
        #expect(stored.map(\.outcome) == [
            .storedNotChecked(verdict: "duplicate", error: checkStarting), .notChecked(error: checkStarting),
            .notSubmitted(error: checkStarting),
        ])
        #expect(try runner.sync { Array(node.calls.dropFirst(callsBefore)) } == ["submitblock", "getblockheader", "getblockheader"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
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
        let run = try Self.resubmitThroughAJobDeclarationServer(records, runner: runner, node: node) { rpc, submitter in
            #expect(submitter.backoff == RetryBackoff())
            #expect(JournaledBlockSubmission(rpc: rpc, journal: nil).backoff == submitter.backoff)
            // Two quick attempts: with the default schedule the first retry alone would wait a second, and all
            // of them minutes.
            submitter.backoff = RetryBackoff(maximumAttempts: 2, firstDelay: .milliseconds(10), maximumDelay: .milliseconds(10))
            node.errorAnswers = Array(repeating: (-28, "Loading block index…"), count: 10)
        }
        let (results, journal, submitter) = (run.results, run.journal, run.submitter)
        #expect(results.map(\.outcome)
            == [.notSubmitted(error: .rpc(method: "submitblock", code: -28, message: "Loading block index…"))])
        #expect(try runner.sync { node.calls } == ["submitblock", "submitblock"])
        #expect(try runner.sync { journal.entries }.isEmpty)
        #expect(try runner.sync { submitter.statistics.journaledBlocksSettled } == 0)
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
        let run = try Self.resubmitThroughAJobDeclarationServer(records, runner: runner, node: node) { _, submitter in
            submitter.wallClock = { 1_900_000_000 }
        }
        let (results, journal, submitter) = (run.results, run.journal, run.submitter)
        #expect(results.map(\.outcome) == [.acknowledged(verdict: "accepted"), .unknownToNode])
        #expect(try runner.sync { node.submitted } == [whole.blockData!])
        #expect(try runner.sync { node.headerQueries } == [poolBlock.hash.displayHex])
        let entries = try runner.sync { journal.entries }
        #expect(entries.map(\.event) == [.acknowledged] && entries.first?.hash == whole.hash && entries.first?.time == 1_900_000_000)
        #expect(try runner.sync { submitter.statistics.journaledBlocksSettled } == 1)
    }

    /// Resubmits `records` through a JD server's block submitter on `node` (as `sv2 jd-server --rpc` does at
    /// start-up), `configure` run on the loop first with the client and the submitter; waits for the results and
    /// returns them with the submitter's journal and the submitter (kept alive with its server until then).
    static func resubmitThroughAJobDeclarationServer(
        _ records: [BlockJournalRecord], runner: LoopRunner, node: FakeBitcoinCore,
        configure: @escaping (BitcoinCoreRPCClient, JobDeclarationBlockSubmitter) -> Void
    ) throws -> (results: [JournaledBlockSubmission.Result], journal: MemoryBlockJournal, submitter: JobDeclarationBlockSubmitter) {
        let journal = MemoryBlockJournal()
        let results = Box<[JournaledBlockSubmission.Result]?>(nil)
        let holder = Box<(JobDeclaratorServer, JobDeclarationBlockSubmitter)?>(nil)
        try runner.sync {
            let rpc = Self.client(runner, try node.start())
            let jds = JobDeclaratorServer(coinbaseOutputs: [JobDeclarationTests.payout])
            let submitter = jds.useBitcoinCore(rpc, journal: journal)
            configure(rpc, submitter)
            holder.value = (jds, submitter)
            submitter.resubmitJournaled(records) { results.value = $0 }
        }
        #expect(try runner.wait(timeout: 10) { results.value != nil })
        let done = try #require(try runner.sync { results.value })
        return (done, journal, try #require(holder.value).1)
    }
}
