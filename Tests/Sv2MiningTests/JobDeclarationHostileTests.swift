import Foundation
@testable import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2Miner
@testable import Sv2TemplateProvider

/// A hostile Job Declaration client, frame by frame: every bad request gets a typed, counted refusal, only that
/// request is refused (the connection keeps working), and nothing that should not be is accepted.
@Suite("Job Declaration: hostile clients", .serialized)
struct JobDeclarationHostileTests {
    static let poolScript: [UInt8] = [0x00, 0x14] + [UInt8](repeating: 0x11, count: 20)
    static let thiefScript: [UInt8] = [0x00, 0x14] + [UInt8](repeating: 0x66, count: 20)

    /// A coinbase at height 5 (subsidy 50 BTC with a 150-block halving) with `outputs`; BIP141 fields kept.
    static func coinbase(_ outputs: [TxOutput]) -> CoinbaseParts {
        try! Coinbase(
            version: 2, scriptSigPrefix: [0x01, 0x05], tag: Array("hostile".utf8), extranonceLength: 8,
            sequence: 0xffff_ffff, poolOutputs: outputs, templateOutputs: [], templateOutputCount: 0, locktime: 0
        ).parts(witness: true)
    }

    static let fair = coinbase([TxOutput(value: 5_000_000_000, script: poolScript)])

    /// Reads frames until one of type `type` (skipping others, at most 16); its payload.
    static func expect(_ type: Sv2MessageType, from peer: BlockingFramePeer) throws -> [UInt8] {
        for _ in 0..<16 {
            let (header, payload) = try peer.readFrame()
            if header.knownMessageType == type { return payload }
        }
        throw ReactorError.system(EPROTO, "no \(type)")
    }

    static func setUp(_ peer: BlockingFramePeer, _ sv2Protocol: Sv2Protocol, flags: UInt32 = 0) throws {
        try peer.send(SetupConnection(
            protocolID: sv2Protocol.rawValue, minVersion: 2, maxVersion: 2, flags: flags, endpointHost: "127.0.0.1",
            endpointPort: 1, vendor: "hostile", hardwareVersion: "", firmware: "", deviceID: ""))
        #expect(try peer.readFrame().header.knownMessageType == .setupConnectionSuccess)
    }

    static func allocate(_ peer: BlockingFramePeer, user: String = "alice", request: UInt32 = 1) throws -> [UInt8] {
        try peer.send(AllocateMiningJobToken(userIdentifier: user, requestID: request))
        return try AllocateMiningJobTokenSuccess(decoding: expect(.allocateMiningJobTokenSuccess, from: peer)).miningJobToken
    }

    /// Sends a declaration and returns the error code, or `nil` if it was accepted.
    static func declare(
        _ peer: BlockingFramePeer, token: [UInt8], coinbase: CoinbaseParts, wtxids: [U256] = [], request: UInt32 = 9
    ) throws -> String? {
        try peer.send(DeclareMiningJob(
            requestID: request, miningJobToken: token, version: 0x2000_0000, coinbaseTxPrefix: coinbase.prefix,
            coinbaseTxSuffix: coinbase.suffix, wtxidList: wtxids, excessData: []))
        let (header, payload) = try peer.readFrame()
        switch header.knownMessageType {
        case .declareMiningJobSuccess: return nil
        case .declareMiningJobError: return try DeclareMiningJobError(decoding: payload).errorCode
        case .provideMissingTransactions: return "provide-missing-transactions"
        default: return "unexpected \(String(describing: header.knownMessageType))"
        }
    }

    @Test func badDeclarationsAreRefusedTypedAndCounted() throws {
        let runner = try LoopRunner()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [TxOutput(value: 0, script: Self.poolScript)], halvingInterval: 150)
        jds.maximumTransactions = 10
        jds.maximumProvidedBytes = 1_000
        let (server, _) = try JobDeclarationTests.start(runner, jds: jds, clients: 0)
        let address = try runner.sync { server.localAddress! }
        let peer = try BlockingFramePeer(connectingTo: address)
        defer { peer.close() }
        let other = try BlockingFramePeer(connectingTo: address)
        defer { other.close() }
        try Self.setUp(peer, .jobDeclaration)
        try Self.setUp(other, .jobDeclaration)

        // Unknown, foreign (allocated to the other connection) and replayed tokens.
        #expect(try Self.declare(peer, token: [UInt8](repeating: 7, count: 16), coinbase: Self.fair) == "invalid-mining-job-token")
        let othersToken = try Self.allocate(other)
        #expect(try Self.declare(peer, token: othersToken, coinbase: Self.fair) == "invalid-mining-job-token")
        let token = try Self.allocate(peer)
        #expect(try Self.declare(peer, token: token, coinbase: Self.fair) == nil)
        #expect(try Self.declare(peer, token: token, coinbase: Self.fair) == "invalid-mining-job-token")

        // Coinbases that underpay the pool: value to another script, less than the subsidy, nothing to the pool.
        let stealing = Self.coinbase([
            TxOutput(value: 1, script: Self.poolScript), TxOutput(value: 4_999_999_999, script: Self.thiefScript),
        ])
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: stealing) == "invalid-coinbase-tx")
        let cheap = Self.coinbase([TxOutput(value: 1_000, script: Self.poolScript)])
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: cheap) == "invalid-coinbase-tx")
        let elsewhere = Self.coinbase([TxOutput(value: 5_000_000_000, script: Self.thiefScript)])
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: elsewhere) == "invalid-coinbase-tx")
        // Not a coinbase at all, and a coinbase whose outputs carry too many sigops.
        let garbage = CoinbaseParts(prefix: [1, 2, 3], suffix: [4, 5, 6])
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: garbage) == "invalid-coinbase-tx")
        let sigops = Self.coinbase([
            TxOutput(value: 5_000_000_000, script: Self.poolScript),
            TxOutput(value: 0, script: [UInt8](repeating: 0xae, count: 21)),  // 21 × CHECKMULTISIG = 420 sigops
        ])
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: sigops) == "invalid-coinbase-tx")

        // An oversized transaction list, then oversized provided transactions.
        let many = (0..<11).map { U256(limbs: (UInt64($0), 1, 2, 3)) }
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: Self.fair, wtxids: many) == "invalid-job")
        let big = [UInt8](repeating: 0x42, count: 1_200)
        let bigID = JobDeclarationWire.u256(SHA256d.hash(big))
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: Self.fair, wtxids: [bigID], request: 30)
            == "provide-missing-transactions")
        try peer.send(ProvideMissingTransactionsSuccess(requestID: 30, transactionList: [big]))
        #expect(try DeclareMiningJobError(decoding: Self.expect(.declareMiningJobError, from: peer)).errorCode == "invalid-job")
        // Transactions that are not the ones asked for.
        let small = [UInt8](repeating: 0x43, count: 100)
        #expect(try Self.declare(
            peer, token: Self.allocate(peer), coinbase: Self.fair, wtxids: [JobDeclarationWire.u256(SHA256d.hash(small))],
            request: 31) == "provide-missing-transactions")
        try peer.send(ProvideMissingTransactionsSuccess(requestID: 31, transactionList: [[0x44]]))
        #expect(try DeclareMiningJobError(decoding: Self.expect(.declareMiningJobError, from: peer)).errorCode == "missing-txs")

        // A coinbase whose BIP141 witness commitment is not over the declared wtxids (no valid block could come of
        // it), or that has no witness reserved value to check it with; the one over them passes the check (and
        // waits for its unknown transactions).
        let declared = (1...2).map { EmbeddedTemplateSource.fakeTransaction(spending: SHA256d.hash([UInt8($0)])) }
        let declaredIDs = declared.map { JobDeclarationWire.u256(SHA256d.hash($0)) }
        func committing(to transactions: [[UInt8]], witness: Bool = true) -> CoinbaseParts {
            let commitment = WitnessCommitment.value(
                wtxids: transactions.map(SHA256d.hash), reservedValue: Hash256.zero.bytes)
            return try! Coinbase(
                version: 2, scriptSigPrefix: [0x01, 0x05], tag: Array("hostile".utf8), extranonceLength: 8,
                sequence: 0xffff_ffff, poolOutputs: [
                    TxOutput(value: 5_000_000_000, script: Self.poolScript),
                    WitnessCommitment.output(commitment),
                ], templateOutputs: [], templateOutputCount: 0, locktime: 0
            ).parts(witness: witness)
        }
        #expect(try Self.declare(
            peer, token: Self.allocate(peer), coinbase: committing(to: [declared[1], declared[0]]), wtxids: declaredIDs)
            == "invalid-coinbase-tx")
        #expect(try Self.declare(
            peer, token: Self.allocate(peer), coinbase: committing(to: declared, witness: false), wtxids: declaredIDs)
            == "invalid-coinbase-tx")
        #expect(try Self.declare(
            peer, token: Self.allocate(peer), coinbase: committing(to: declared), wtxids: declaredIDs, request: 32)
            == "provide-missing-transactions")

        // No commitment, and a declared transaction with a witness: refused once the transaction is known.
        let witnessed = PoolBlockAssemblyTests.withWitness(declared[0])
        #expect(try Self.declare(
            peer, token: Self.allocate(peer), coinbase: Self.fair, wtxids: [JobDeclarationWire.u256(SHA256d.hash(witnessed))],
            request: 33) == "provide-missing-transactions")
        try peer.send(ProvideMissingTransactionsSuccess(requestID: 33, transactionList: [witnessed]))
        #expect(try DeclareMiningJobError(decoding: Self.expect(.declareMiningJobError, from: peer)).errorCode
            == "invalid-coinbase-tx")

        // The connection still works: a fair declaration is accepted; nothing else was.
        #expect(try Self.declare(peer, token: Self.allocate(peer), coinbase: Self.fair) == nil)
        runner.inspect {
            #expect(jds.statistics.jobsAccepted == 2)
            #expect(jds.statistics.rejections == [
                "unknown-token": 1, "foreign-token": 1, "replayed-token": 1, "underpays-pool": 3,
                "invalid-coinbase": 4, "too-many-sigops": 1, "too-many-transactions": 1, "transactions-too-large": 1,
                "missing-transactions": 1,
            ])
            #expect(jds.declaredJobCount == 2 && jds.mempoolCount == 1)  // the witnessed transaction
            #expect(server.connections.count == 2)
        }
    }

    /// The pool's side: `SetCustomMiningJob` checked by the channel, the coinbase and the JD server's tokens.
    @Test func customJobsNeedAFreshTokenOfTheirUserAndPayThePool() throws {
        let runner = try LoopRunner()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [TxOutput(value: 0, script: Self.poolScript)])
        let (service, jdsServer) = try runner.sync { () -> (PoolService, JobDeclarationTests.JDSServer) in
            let service = try PoolService(
                configuration: PoolConfiguration(payoutScript: Self.poolScript),
                server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .embedded(.init(refreshInterval: nil)), eventLoop: runner.loop, acceptsWorkSelection: true)
            try service.start()
            service.pool.customJobAuthorizer = { jds.authorize($0) }
            return (service, try JobDeclarationEndToEndTests.makeJDSServer(jds, at: clientLoopback, loop: runner.loop))
        }
        defer { _ = try? runner.sync { service.stop(); jdsServer.stop() } }
        #expect(try runner.wait { service.pool.chainTip != nil })
        let (poolAddress, jdsAddress, tip) = try runner.sync { (service.localAddress!, jdsServer.localAddress!, service.pool.chainTip!) }
        let declarator = try BlockingFramePeer(connectingTo: jdsAddress)
        defer { declarator.close() }
        try Self.setUp(declarator, .jobDeclaration)
        let miner = try BlockingFramePeer(connectingTo: poolAddress)
        defer { miner.close() }
        try Self.setUp(miner, .mining, flags: Sv2SetupFlags.Mining.requiresWorkSelection)
        try miner.send(OpenExtendedMiningChannel(
            requestID: 1, userIdentity: "alice", nominalHashRate: 1_000, maxTarget: .max, minExtranonceSize: 8))
        let channel = try OpenExtendedMiningChannelSuccess(decoding: Self.expect(.openExtendedMiningChannelSuccess, from: miner))

        func customJob(token: [UInt8], outputs: [TxOutput], request: UInt32) throws -> String? {
            var serialized: [UInt8] = []
            CompactSize.append(UInt64(outputs.count), to: &serialized)
            for output in outputs { output.serialize(into: &serialized) }
            try miner.send(SetCustomMiningJob(
                channelID: channel.channelID, requestID: request, miningJobToken: token,
                version: 0x2000_0000, prevHash: JobDeclarationWire.u256(tip.prevHash), minNtime: tip.headerTimestamp,
                nbits: tip.nbits, coinbaseTxVersion: 2, coinbasePrefix: [0x01, 0x05, 0x08],
                coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: serialized, coinbaseTxLocktime: 0,
                merklePath: []))
            for _ in 0..<16 {
                let (header, payload) = try miner.readFrame()
                if header.knownMessageType == .setCustomMiningJobSuccess {
                    #expect(try SetCustomMiningJobSuccess(decoding: payload).requestID == request)
                    return nil
                }
                if header.knownMessageType == .setCustomMiningJobError {
                    let error = try SetCustomMiningJobError(decoding: payload)
                    #expect(error.requestID == request)
                    return error.errorCode
                }
            }
            return "no answer"
        }
        let fair = [TxOutput(value: 5_000_000_000, script: Self.poolScript)]
        #expect(try customJob(token: [UInt8](repeating: 1, count: 16), outputs: fair, request: 1) == "invalid-mining-job-token")
        let token = try Self.allocate(declarator)
        #expect(try customJob(token: token, outputs: fair, request: 3) == nil)
        #expect(try customJob(token: token, outputs: fair, request: 4) == "invalid-mining-job-token")  // replayed
        let stealing = [TxOutput(value: 1, script: Self.poolScript), TxOutput(value: 4_999_999_999, script: Self.thiefScript)]
        #expect(try customJob(token: Self.allocate(declarator, request: 2), outputs: stealing, request: 5) == "invalid-coinbase-tx")
        let bobs = try Self.allocate(declarator, user: "bob", request: 3)
        #expect(try customJob(token: bobs, outputs: fair, request: 6) == "invalid-mining-job-token")  // foreign user
        #expect(try customJob(token: Self.allocate(declarator, request: 4), outputs: [], request: 7) == "invalid-coinbase-tx-outputs")
        runner.inspect {
            #expect(service.pool.statistics.customJobsAccepted == 1)
            #expect(service.pool.statistics.customJobRefusals == [
                "invalid-mining-job-token": 3, "invalid-coinbase-tx": 1,
                "invalid-coinbase-tx-outputs": 1,
            ])
            #expect(jds.statistics.rejections == [
                "unknown-token": 1, "replayed-token": 1, "underpays-pool": 1, "foreign-token": 1,
            ])
        }
    }

    /// Built from the pool's service, the JD server's mempool view holds the transactions of the templates the pool
    /// mines (fetched on the pool's template link), before any JD client declared anything.
    @Test func mempoolViewFollowsThePoolsTemplates() throws {
        let runner = try LoopRunner()
        defer { runner.stop() }
        let (service, jds) = try runner.sync { () -> (PoolService, JobDeclarationServerService) in
            var templates = EmbeddedTemplateProvider.Configuration(refreshInterval: nil)
            templates.source.transactionCount = 5
            let service = try PoolService(
                configuration: PoolConfiguration(payoutScript: Self.poolScript),
                server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .embedded(templates), eventLoop: runner.loop, acceptsWorkSelection: true)
            let jds = try JobDeclarationServerService(
                service: service, server: Sv2ServerConfiguration(listenAddress: clientLoopback))
            try service.start()
            try jds.start()
            return (service, jds)
        }
        defer { _ = try? runner.sync { jds.stop(); service.stop() } }
        #expect(try runner.wait { jds.declarator.mempoolCount == 5 })
        runner.inspect {
            // Exactly the current template's transactions, by wtxid.
            let transactions = service.embeddedTemplateProvider!.source.transactions
            for transaction in transactions {
                #expect(jds.declarator.hasTransaction(wtxid: SHA256d.hash(transaction)))
            }
            #expect(service.pool.customJobAuthorizer != nil)
        }
    }

    static func policyRejects(_ outputs: [TxOutput], height: UInt32? = nil) -> JobDeclarationError? {
        let policy = PoolPayoutPolicy(payoutScripts: [poolScript], halvingInterval: 150)
        do throws(JobDeclarationError) { try policy.check(outputs: outputs, height: height, size: 200) } catch {
            return error
        }
        return nil
    }

    @Test func payoutPolicy() throws {
        let pool = TxOutput(value: 5_000_000_000, script: Self.poolScript)
        let commitment = TxOutput(value: 0, script: [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed] + [UInt8](repeating: 0, count: 32))
        #expect(Self.policyRejects([pool, commitment], height: 5) == nil)
        // Fees on top of the subsidy are fine; less than the subsidy at that height is not.
        #expect(Self.policyRejects([TxOutput(value: 5_000_001_000, script: Self.poolScript)], height: 5) == nil)
        #expect(Self.policyRejects([TxOutput(value: 2_500_000_000, script: Self.poolScript)], height: 5)
            == .underpaysPool(paid: 2_500_000_000, announced: 5_000_000_000))
        #expect(Self.policyRejects([TxOutput(value: 2_500_000_000, script: Self.poolScript)], height: 150) == nil)
        // Any value elsewhere underpays the pool by that much.
        #expect(Self.policyRejects([pool, TxOutput(value: 1, script: Self.thiefScript)], height: 5)
            == .underpaysPool(paid: 5_000_000_000, announced: 5_000_000_001))
        #expect(Self.policyRejects([pool, TxOutput(value: .max, script: Self.thiefScript)]) == .invalidCoinbase("output values overflow"))
        // Nothing to the pool is never a payout.
        #expect(Self.policyRejects([TxOutput(value: 0, script: Self.poolScript)]) == .underpaysPool(paid: 0, announced: 0))
        #expect(PoolPayoutPolicy.sigops(in: [0x76, 0xa9, 0x14] + [UInt8](repeating: 0, count: 20) + [0x88, 0xac]) == 1)
        #expect(PoolPayoutPolicy.sigops(in: [0x4c, 0x02, 0xac, 0xac, 0xae]) == 20)  // pushed bytes are not opcodes
        #expect(PoolPayoutPolicy.sigops(in: [0x4d, 0xff]) == 0)  // truncated push
    }

    @Test func declaredCoinbaseParsing() throws {
        for witness in [true, false] {
            let coinbase = try Coinbase(
                version: 2, scriptSigPrefix: [0x03, 0x40, 0x1f, 0x0e], tag: Array("pool".utf8), extranonceLength: 12,
                sequence: 0xffff_fffe, poolOutputs: [TxOutput(value: 7, script: Self.poolScript)],
                templateOutputs: TxOutput(value: 0, script: [0x51]).serialized, templateOutputCount: 1, locktime: 9)
            let parts = coinbase.parts(witness: witness)
            let parsed = try DeclaredCoinbase(prefix: parts.prefix, suffix: parts.suffix)
            #expect(parsed.extranonceLength == 12 && parsed.height == 925_504 && parsed.locktime == 9)
            #expect(parsed.outputs == [TxOutput(value: 7, script: Self.poolScript), TxOutput(value: 0, script: [0x51])])
            #expect(parsed.size == parts.prefix.count + 12 + parts.suffix.count)
            // Every truncation is refused, never trusted.
            for cut in 0..<parts.suffix.count {
                #expect(throws: JobDeclarationError.self) {
                    try DeclaredCoinbase(prefix: parts.prefix, suffix: Array(parts.suffix.prefix(cut)))
                }
            }
        }
        #expect(TxOutput.parseList([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) == nil)
    }
}
