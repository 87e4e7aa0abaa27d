import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2JobDeclaration

/// The JD server with Bitcoin Core (``FakeBitcoinCore`` on loopback): declared transactions it lacks come from the
/// node's mempool, pushed solutions become full blocks that are journaled and submitted with `submitblock`, and a
/// node that is down or refuses is retried, counted and journaled.
@Suite("Job Declaration server with Bitcoin Core RPC", .serialized)
struct JobDeclarationBitcoinCoreTests {
    /// `JobDeclarationTests.coinbase` plus the BIP141 witness commitment over `transactions` (reserved value zero),
    /// as a template provider's coinbase outputs carry it: the JD server refuses a declaration whose commitment is
    /// not over its transactions, or that has none but a transaction with a witness.
    static func coinbase(for transactions: [[UInt8]]) -> CoinbaseParts {
        let commitment = WitnessCommitment.value(wtxids: transactions.map(SHA256d.hash), reservedValue: Hash256.zero.bytes)
        return try! Coinbase(
            version: 2, scriptSigPrefix: [0x01, 0x05], tag: [], extranonceLength: 8, sequence: 0xffff_ffff,
            poolOutputs: [
                TxOutput(value: 5_000_000_000, script: JobDeclarationTests.payout.script),
                WitnessCommitment.output(commitment),
            ],
            templateOutputs: [], templateOutputCount: 0, locktime: 0
        ).parts(witness: true)
    }
    static let legacy: [[UInt8]] = JobDeclarationTests.transactions
    /// A segwit transaction (marker, flag, one witness item): its wtxid is not its txid, so the node finds it only
    /// through the mempool's wtxid map.
    static let segwit: [UInt8] = [0x02, 0, 0, 0, 0x00, 0x01, 0x01] + [UInt8](repeating: 0xab, count: 32) + [0, 0, 0, 0]
        + [0x00, 0xff, 0xff, 0xff, 0xff, 0x01, 0x10, 0x27, 0, 0, 0, 0, 0, 0, 0x01, 0x51, 0x01, 0x04, 1, 2, 3, 4, 0, 0, 0, 0]
    static let extranonce: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
    static let prevHash = Hash256(bytes: [UInt8](repeating: 0x5a, count: 32))!
    /// One header in 65,536 meets it: ground in a moment, and a solution meant for one job practically never makes a
    /// block of another (with 207fffff every second header would).
    static let easyBits: UInt32 = 0x1f00_ffff

    final class Stack: @unchecked Sendable {
        var node: FakeBitcoinCore!
        var jds: JobDeclaratorServer!
        var server: JobDeclarationTests.JDSServer!
        var jdc: JobDeclarationClient!
        var submitter: JobDeclarationBlockSubmitter!
        let journal = MemoryBlockJournal()
    }

    /// A JD server using `node` (or a dead port), one JD client connected to it.
    static func start(
        _ runner: ClientTestLoop, nodeUp: Bool = true, configure: @escaping (JobDeclarationBlockSubmitter) -> Void = { _ in }
    ) throws -> Stack {
        let stack = Stack()
        try runner.sync {
            stack.node = FakeBitcoinCore(loop: runner.loop, credentials: "rpcuser:rpcpass")
            var address = try stack.node.start()
            if !nodeUp {
                stack.node.stop()
                address = try SocketAddress(ip: "127.0.0.1", port: address.port)
            }
            var configuration = BitcoinCoreRPCConfiguration(
                endpoint: Endpoint(address), credentials: .user("rpcuser", password: "rpcpass"))
            configuration.connectTimeout = .seconds(2)
            let rpc = BitcoinCoreRPCClient(configuration: configuration, eventLoop: runner.loop)
            stack.jds = JobDeclaratorServer(coinbaseOutputs: [JobDeclarationTests.payout])
            stack.submitter = stack.jds.useBitcoinCore(rpc, journal: stack.journal)
            stack.submitter.backoff = RetryBackoff(maximumAttempts: 6, firstDelay: .milliseconds(20), maximumDelay: .milliseconds(80))
            configure(stack.submitter)
        }
        let (server, clients) = try JobDeclarationTests.start(runner, jds: stack.jds, clients: 1)
        stack.server = server
        stack.jdc = clients[0]
        #expect(try runner.wait { stack.jdc.jobDeclaration.state.tokens.count >= 1 })
        return stack
    }

    /// Declares `transactions` and waits for the verdict.
    /// Gives the JD server the legacy transactions (as if its node had them) and declares them; whether the
    /// declaration was accepted (an issue is recorded if not).
    static func declareTheLegacyTransactions(_ runner: ClientTestLoop, _ stack: Stack) throws -> Bool {
        try runner.sync { for transaction in Self.legacy { stack.jds.addTransaction(transaction) } }
        guard case .accepted = try Self.declare(runner, stack, Self.legacy) else {
            Issue.record("declaration not accepted")
            return false
        }
        return true
    }

    static func declare(_ runner: ClientTestLoop, _ stack: Stack, _ transactions: [[UInt8]]) throws -> JobDeclaratorClient.Declaration? {
        let state = stack.jdc.jobDeclaration.state
        let coinbase = coinbase(for: transactions)
        let requestID = try runner.sync {
            try state.declare(
                version: 0x2000_0000, coinbasePrefix: coinbase.prefix, coinbaseSuffix: coinbase.suffix,
                transactions: transactions)
        }
        _ = try runner.wait { state.declarations[requestID] != .pending }
        return try runner.sync { state.declarations[requestID] }
    }

    /// The block a solution with `extranonce` makes with `transactions`, computed here from the parts (not with
    /// `DeclaredBlock`), and the first nonce whose header meets `nbits` (or misses it, `meeting: false`).
    static func expectedBlock(
        _ transactions: [[UInt8]], nbits: UInt32 = easyBits, meeting: Bool = true
    ) -> (solution: PushSolution, bytes: [UInt8], hash: Hash256) {
        let coinbase = coinbase(for: transactions)
        let coinbaseTransaction = coinbase.prefix + extranonce + coinbase.suffix
        let txids = ([coinbaseTransaction] + transactions).map { SHA256d.hash(TransactionSerialization.withoutWitness($0)!) }
        var header = BlockHeader(
            version: 0x2000_0000, prevHash: prevHash, merkleRoot: MerkleRoot.compute(txids: txids), ntime: 1_700_000_000,
            nbits: nbits, nonce: 0)
        let target = Target(compact: nbits)!
        while target.isMet(by: header.hash) != meeting { header.nonce += 1 }
        var bytes = header.bytes
        CompactSize.append(UInt64(1 + transactions.count), to: &bytes)
        bytes += coinbaseTransaction
        for transaction in transactions { bytes += transaction }
        let solution = PushSolution(
            extranonce: extranonce, prevHash: JobDeclarationWire.u256(prevHash), nonce: header.nonce, ntime: header.ntime,
            nbits: nbits, version: header.version)
        return (solution, bytes, header.hash)
    }

    @Test func transactionsFromTheNodeAndTheBlockSubmitted() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let stack = try Self.start(runner)
        let transactions = [Self.segwit] + Self.legacy
        try runner.sync { stack.node.mempool = { transactions } }
        let verdict = try Self.declare(runner, stack, transactions)
        guard case .accepted = verdict else {
            Issue.record("declaration not accepted: \(String(describing: verdict))")
            return
        }
        try runner.sync {
            // Every transaction came from the node: no ProvideMissingTransactions round.
            #expect(stack.jds.statistics.missingTransactionRequests == 0)
            #expect(stack.jdc.jobDeclaration.state.statistics.transactionsProvided == 0)
            #expect(stack.jds.mempoolCount == 4)
            #expect(stack.node.calls.filter { $0 == "getrawmempool" }.count == 1)
        }
        // A second declaration with a segwit transaction the node got since: the fresh map is reused (one
        // getrawmempool), so that one is asked of the JD client; the known ones need nothing.
        var newer = Self.segwit
        newer[newer.count - 5] = 9  // another witness item: another wtxid, the same txid
        try runner.sync {
            stack.submitter.mempoolLookup!.mempoolMapLifetime = .seconds(3_600)
            stack.node.mempool = { transactions + [newer] }
        }
        guard case .accepted = try Self.declare(runner, stack, Self.legacy + [newer]) else {
            Issue.record("second declaration not accepted")
            return
        }
        try runner.sync {
            #expect(stack.node.calls.filter { $0 == "getrawmempool" }.count == 1)
            #expect(stack.jds.statistics.missingTransactionRequests == 1)
            #expect(stack.jdc.jobDeclaration.state.statistics.transactionsProvided == 1)
            #expect(stack.submitter.mempoolLookup!.mempoolMapsFetched == 1)
        }
        let expected = Self.expectedBlock(transactions)
        try runner.sync { try stack.jdc.jobDeclaration.state.pushSolution(expected.solution) }
        #expect(try runner.wait { stack.submitter.statistics.results["accepted"] == 1 })
        try runner.sync {
            #expect(stack.node.submitted == [expected.bytes])
            #expect(stack.node.shapeViolations.isEmpty && stack.node.unauthorized == 0)
            // Journaled before it was submitted, with the whole block; then the verdict.
            let entries = stack.journal.entries
            #expect(entries.map(\.event) == [.found, .acknowledged])
            #expect(entries.first?.blockData == expected.bytes && entries.first?.hash == expected.hash)
            #expect(entries.first?.height == 5)
            #expect(entries.last?.reason == "submitblock: accepted")
            #expect(stack.submitter.statistics.blocksFound == 1 && stack.submitter.statistics.submissions == 1)
            // The same solution again: one block, submitted once.
            try stack.jdc.jobDeclaration.state.pushSolution(expected.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.duplicateSolutions == 1 })
        try runner.sync { #expect(stack.node.submitted.count == 1) }
        // A header that misses its nbits is no block: nothing journaled or submitted.
        let miss = Self.expectedBlock(transactions, nbits: 0x1d00_ffff, meeting: false)
        try runner.sync { try stack.jdc.jobDeclaration.state.pushSolution(miss.solution) }
        #expect(try runner.wait { stack.submitter.statistics.solutionsBelowTarget == 1 })
        try runner.sync {
            #expect(stack.node.submitted.count == 1 && stack.journal.entries.count == 2)
            #expect(stack.submitter.statistics.solutionsReceived == 3)
        }
    }

    @Test func nodeDownRetriesWithinTheBoundThenJournalsTheFailure() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let stack = try Self.start(runner, nodeUp: false) { $0.backoff.maximumAttempts = 3 }
        // The lookup fails (node down): the JD client is asked instead and the declaration still goes through.
        guard case .accepted = try Self.declare(runner, stack, Self.legacy) else {
            Issue.record("declaration not accepted")
            return
        }
        try runner.sync { #expect(stack.jds.statistics.missingTransactionRequests == 1) }
        let expected = Self.expectedBlock(Self.legacy)
        try runner.sync { try stack.jdc.jobDeclaration.state.pushSolution(expected.solution) }
        #expect(try runner.wait { stack.submitter.statistics.submissionFailures == 1 })
        try runner.sync {
            let statistics = stack.submitter.statistics
            #expect(statistics.submissions == 3 && statistics.retries == 2 && statistics.results.isEmpty)
            #expect(stack.submitter.pendingCount == 0)
            // Never lost: the found line holds the block, the failed line says why.
            let entries = stack.journal.entries
            #expect(entries.map(\.event) == [.found, .failed])
            #expect(entries.first?.blockData == expected.bytes)
            #expect(entries.last?.reason?.contains("after 3 attempts") == true)
            #expect(entries.last?.reason?.contains("unreachable") == true)
        }
    }

    @Test func nodeBackWithinTheRetriesAndVerdictsCounted() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let stack = try Self.start(runner)
        guard try Self.declareTheLegacyTransactions(runner, stack) else { return }
        // The node drops the first two submissions (going down and up), answers the third.
        let expected = Self.expectedBlock(Self.legacy)
        try runner.sync {
            stack.node.dropRequests = 2
            try stack.jdc.jobDeclaration.state.pushSolution(expected.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.results["accepted"] == 1 })
        try runner.sync {
            #expect(stack.submitter.statistics.retries == 2 && stack.submitter.statistics.submissions == 3)
            #expect(stack.node.submitted == [expected.bytes])
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged])
        }
        // A verdict is not retried: a rejection is journaled failed with bitcoind's reason.
        let other = Self.expectedBlock(Self.legacy, nbits: 0x2070_0000)
        try runner.sync {
            stack.node.submitVerdict = { _ in "high-hash" }
            try stack.jdc.jobDeclaration.state.pushSolution(other.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.results["high-hash"] == 1 })
        try runner.sync {
            #expect(stack.submitter.statistics.submissions == 4 && stack.submitter.statistics.submissionFailures == 0)
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged, .found, .failed])
            #expect(stack.journal.entries.last?.reason == "submitblock: high-hash")
        }
    }

    /// `"duplicate"` and `"inconclusive"` mean the node stored the block, not that it is on its best chain: the
    /// submitter asks with `getblockheader` and journals `acknowledged` only for a block on the best chain; any other
    /// block stays unsettled (found, nothing more), its verdict still counted in bitcoind's words.
    @Test func aStoredBlockIsAcknowledgedOnlyOnTheNodesBestChain() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let stack = try Self.start(runner) { $0.backoff.maximumAttempts = 3 }
        guard try Self.declareTheLegacyTransactions(runner, stack) else { return }
        // A duplicate on the best chain: acknowledged, the reason naming both answers.
        let onChain = Self.expectedBlock(Self.legacy)
        try runner.sync {
            stack.node.submitVerdict = { _ in "duplicate" }
            stack.node.headers = [onChain.hash.displayHex: (height: 151, confirmations: 1)]
            try stack.jdc.jobDeclaration.state.pushSolution(onChain.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.storedBlocksOnBestChain == 1 })
        try runner.sync {
            let statistics = stack.submitter.statistics
            #expect(statistics.results == ["duplicate": 1] && statistics.blocksAccepted == 1)
            #expect(stack.submitter.pendingCount == 0 && stack.node.headerQueries == [onChain.hash.displayHex])
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged])
            #expect(stack.journal.entries.last?.reason
                == "submitblock: duplicate; the node has it on its best chain at height 151 (1 confirmations)")
        }
        // Inconclusive, off the best chain: nothing journaled after found.
        let offChain = Self.expectedBlock(Self.legacy, nbits: 0x2070_0000)
        try runner.sync {
            stack.node.submitVerdict = { _ in "inconclusive" }
            stack.node.headers = [offChain.hash.displayHex: (height: 151, confirmations: -1)]
            try stack.jdc.jobDeclaration.state.pushSolution(offChain.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.storedBlocksNotOnBestChain == 1 })
        try runner.sync {
            let statistics = stack.submitter.statistics
            #expect(statistics.results == ["duplicate": 1, "inconclusive": 1] && statistics.blocksAccepted == 1)
            #expect(stack.submitter.pendingCount == 0)
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged, .found])
        }
        // A duplicate the node cannot be asked about (still starting for every attempt of the check): retried on
        // the schedule, then left unsettled too.
        let unchecked = Self.expectedBlock(Self.legacy, nbits: 0x2060_0000)
        try runner.sync {
            stack.node.submitVerdict = { _ in "duplicate" }
            stack.node.headers = [unchecked.hash.displayHex: (height: 151, confirmations: 2)]
            stack.node.failingMethods = ["getblockheader": (-28, "Loading block index…")]
            try stack.jdc.jobDeclaration.state.pushSolution(unchecked.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.storedBlocksNotOnBestChain == 2 })
        try runner.sync {
            let statistics = stack.submitter.statistics
            #expect(statistics.results == ["duplicate": 2, "inconclusive": 1] && statistics.blocksAccepted == 1)
            #expect(statistics.submissions == 3 && statistics.submissionFailures == 0 && stack.submitter.pendingCount == 0)
            #expect(stack.node.calls.suffix(4) == ["submitblock", "getblockheader", "getblockheader", "getblockheader"])
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged, .found, .found])
        }
    }

    /// bitcoind started together with the pool answers -28 ("Loading block index…") for a while: a pushed block is
    /// submitted again until the node takes it, not journaled failed at the first answer; a node still starting
    /// after the last attempt is a failure to submit (journaled failed, logged critical), like a node that is down.
    @Test func aNodeStillStartingIsRetriedNotTakenForARefusal() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let stack = try Self.start(runner) { $0.backoff.maximumAttempts = 3 }
        guard try Self.declareTheLegacyTransactions(runner, stack) else { return }
        let expected = Self.expectedBlock(Self.legacy)
        try runner.sync {
            stack.node.errorAnswers = Array(repeating: (-28, "Loading block index…"), count: 2)
            try stack.jdc.jobDeclaration.state.pushSolution(expected.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.results["accepted"] == 1 })
        try runner.sync {
            let statistics = stack.submitter.statistics
            #expect(statistics.retries == 2 && statistics.submissions == 3 && statistics.submissionFailures == 0)
            #expect(stack.node.submitted == [expected.bytes])
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged])
        }
        let other = Self.expectedBlock(Self.legacy, nbits: 0x2070_0000)
        try runner.sync {
            stack.node.errorAnswers = Array(repeating: (-28, "Verifying blocks…"), count: 3)
            try stack.jdc.jobDeclaration.state.pushSolution(other.solution)
        }
        #expect(try runner.wait { stack.submitter.statistics.submissionFailures == 1 })
        try runner.sync {
            let statistics = stack.submitter.statistics
            #expect(statistics.retries == 4 && statistics.submissions == 6 && statistics.results == ["accepted": 1])
            #expect(stack.submitter.pendingCount == 0)
            let entries = stack.journal.entries
            #expect(entries.map(\.event) == [.found, .acknowledged, .found, .failed])
            #expect(entries[2].blockData == other.bytes)
            #expect(entries.last?.reason?.contains("after 3 attempts") == true)
            #expect(entries.last?.reason?.contains("error -28: Verifying blocks…") == true)
        }
    }
}

extension JobDeclarationBitcoinCoreTests {
    /// Splits a serialized block into its header and transactions (legacy and BIP141 serializations), checking
    /// every length; `nil` if it does not parse to the end.
    static func parseBlock(_ bytes: [UInt8]) -> (header: BlockHeader, transactions: [[UInt8]])? {
        guard bytes.count > 81, let header = BlockHeader(bytes: Array(bytes[0..<80])) else { return nil }
        var offset = 80
        func compactSize() -> Int? {
            guard let (value, length) = CompactSize.read(bytes[offset...]), value <= UInt64(bytes.count) else { return nil }
            offset += length
            return Int(value)
        }
        func skip(_ count: Int) -> Bool {
            guard count >= 0, offset + count <= bytes.count else { return false }
            offset += count
            return true
        }
        guard let count = compactSize() else { return nil }
        var transactions: [[UInt8]] = []
        for _ in 0..<count {
            let start = offset
            guard skip(4), offset + 2 <= bytes.count else { return nil }
            let witness = bytes[offset] == 0 && bytes[offset + 1] == 1
            if witness { offset += 2 }
            guard let inputs = compactSize() else { return nil }
            for _ in 0..<inputs { guard skip(36), let script = compactSize(), skip(script + 4) else { return nil } }
            guard let outputs = compactSize() else { return nil }
            for _ in 0..<outputs { guard skip(8), let script = compactSize(), skip(script) else { return nil } }
            if witness {
                for _ in 0..<inputs {
                    guard let items = compactSize() else { return nil }
                    for _ in 0..<items { guard let length = compactSize(), skip(length) else { return nil } }
                }
            }
            guard skip(4) else { return nil }
            transactions.append(Array(bytes[start..<offset]))
        }
        return offset == bytes.count ? (header, transactions) : nil
    }

    /// CPU miner → jd-client (full-template declarations) → pool + JD server with Bitcoin Core: the declared
    /// transactions are found in the node's mempool, and every block the jd-client pushes reaches `submitblock` as
    /// the block the Template Provider accepted: same header (meeting its target), same coinbase, merkle root of
    /// the submitted transactions.
    @Test func endToEndPushedBlocksReachSubmitblock() throws {
        let runner = try ClientTestLoop(.epoll)
        defer { runner.stop() }
        let stack = try JobDeclarationEndToEndTests.start(runner, declaresTransactions: true)
        defer { JobDeclarationEndToEndTests.stop(runner, stack) }
        let node = FakeBitcoinCore(loop: runner.loop)
        let journal = MemoryBlockJournal()
        let submitter = ClientBox<JobDeclarationBlockSubmitter?>(nil)
        try runner.sync {
            // The node's mempool is what the Template Provider builds its templates from.
            let provider = stack.pool.embeddedTemplateProvider!
            node.mempool = { provider.source.transactions }
            let address = try node.start()
            let rpc = BitcoinCoreRPCClient(
                configuration: BitcoinCoreRPCConfiguration(endpoint: Endpoint(address), credentials: .user("__cookie__", password: "c00k1e")),
                eventLoop: runner.loop)
            submitter.value = stack.jds.useBitcoinCore(rpc, journal: journal, pool: stack.pool.pool)
        }
        let flowed = try runner.wait(timeout: 60) {
            (submitter.value!.statistics.results["accepted"] ?? 0) >= 1
                && JobDeclarationEndToEndTests.blocks(paying: JobDeclarationEndToEndTests.poolScript, stack) >= 1
        }
        let report = try runner.sync { "submitter \(submitter.value!.statistics), jds \(stack.jds.statistics), node calls \(node.calls.count)" }
        #expect(flowed, "\(report)")
        try runner.sync {
            #expect(node.shapeViolations.isEmpty && node.unauthorized == 0)
            // (Whether the JD server needed the node's mempool depends on whether its own view already held the
            // declared transactions when the job came, a race this test is not about; the lookup has its own tests.)
            let accepted = stack.pool.embeddedTemplateProvider!.acceptedBlocks
            var matched = 0
            for block in node.submitted {
                guard let (header, transactions) = Self.parseBlock(block) else {
                    Issue.record("submitted block does not parse")
                    continue
                }
                #expect(Target(compact: header.nbits)!.isMet(by: header.hash))
                let txids = transactions.map { SHA256d.hash(TransactionSerialization.withoutWitness($0)!) }
                #expect(MerkleRoot.compute(txids: txids) == header.merkleRoot)
                #expect(transactions.count == 4)  // coinbase + the template's three
                // The same block the jd-client's Template Provider accepted (a sibling it did not take may differ).
                guard let twin = accepted.first(where: { $0.hash == header.hash }) else { continue }
                matched += 1
                #expect(twin.header == header)
                #expect(twin.coinbaseTransaction == transactions[0])
                #expect(JobDeclarationEndToEndTests.contains(transactions[0], JobDeclarationEndToEndTests.poolScript))
            }
            #expect(matched >= 1)
            // Each block journaled (with its bytes) before its verdict.
            let found = journal.entries.filter { $0.event == .found }
            #expect(found.count == submitter.value!.statistics.blocksFound)
            #expect(found.allSatisfy { entry in node.submitted.contains(entry.blockData ?? []) })
            #expect(submitter.value!.statistics.solutionsMissingTransactions == 0)
        }
    }
}

extension JobDeclarationBitcoinCoreTests {
    /// Bitcoin's genesis block, serialized (a known vector: 285 bytes, hash 000000000019d6…e26f).
    static let genesis = Sv2Hex.decode(
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc8"
            + "1bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c01010000000100000000000000000000000000000000000000000000"
            + "00000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c"
            + "6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a010000004341"
            + "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba"
            + "0b8d578a4c702b6bf11d5fac00000000")!

    /// The genesis block put together from its coinbase split around an 8-byte "extranonce" (the end of its
    /// scriptSig) and its header fields as a pushed solution: byte for byte the real block.
    @Test func genesisBlockAssembledFromItsParts() throws {
        let coinbase = Array(Self.genesis[81...])
        let scriptSigEnd = 4 + 1 + 36 + 1 + 0x4d
        let prefix = Array(coinbase[..<(scriptSigEnd - 8)])
        let extranonce = Array(coinbase[(scriptSigEnd - 8)..<scriptSigEnd])
        let suffix = Array(coinbase[scriptSigEnd...])
        let job = DeclaredMiningJob(token: [], version: 1, coinbasePrefix: prefix, coinbaseSuffix: suffix, wtxids: [])
        let solution = PushSolution(
            extranonce: extranonce, prevHash: JobDeclarationWire.u256(.zero), nonce: 2_083_236_893, ntime: 1_231_006_505,
            nbits: 0x1d00_ffff, version: 1)
        let block = try DeclaredBlock(job: job, solution: solution, transactions: [])
        #expect(block.bytes == Self.genesis)
        #expect(block.hash.displayHex == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
        #expect(block.header.merkleRoot.displayHex == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")
        #expect(block.meetsTarget)
        // Another nonce is no block; an extranonce of another length does not fit the declared coinbase.
        var other = solution
        other.nonce &+= 1
        #expect(try !DeclaredBlock(job: job, solution: other, transactions: []).meetsTarget)
        other = solution
        other.extranonce = [1, 2, 3]
        #expect(throws: DeclaredBlock.AssemblyError.extranonceLength(got: 3, expected: 8)) {
            try DeclaredBlock(job: job, solution: other, transactions: [])
        }
    }
}

extension JobDeclarationBitcoinCoreTests {
    /// A JD connection's blocks beyond its allowance are not journaled or submitted (a client inventing blocks of
    /// a trivial nbits must not become a stream of journal flushes and submitblock calls).
    @Test func blocksBeyondAConnectionsAllowanceAreRefused() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let stack = try Self.start(runner) {
            $0.blockBurstPerConnection = 1
            $0.blockAllowanceInterval = .seconds(3_600)
        }
        guard try Self.declareTheLegacyTransactions(runner, stack) else { return }
        let first = Self.expectedBlock(Self.legacy)
        let second = Self.expectedBlock(Self.legacy, nbits: 0x2070_0000)
        try runner.sync {
            try stack.jdc.jobDeclaration.state.pushSolution(first.solution)
            try stack.jdc.jobDeclaration.state.pushSolution(second.solution)
        }
        #expect(try runner.wait {
            stack.submitter.statistics.results["accepted"] == 1 && stack.submitter.statistics.blocksOverAllowance == 1
        })
        try runner.sync {
            #expect(stack.node.submitted == [first.bytes])
            #expect(stack.journal.entries.map(\.event) == [.found, .acknowledged])
        }
    }
}
