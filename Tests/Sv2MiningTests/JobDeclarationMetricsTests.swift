import Foundation
@testable import Reactor
import Sv2Codec
import Sv2Metrics
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// `/metrics` of a pool taking a remote JD server's tokens and of that JD server (each on its own loop), scraped with a
/// real HTTP client while a CPU miner mines through a jd-client: every custom-job and JD series is seen to move.
@Suite("Job Declaration metrics", .serialized)
struct JobDeclarationMetricsTests {
    /// A peer that opened an extended channel with work selection on the pool at `address`; its channel id.
    static func workSelectingChannel(_ address: SocketAddress, user: String) throws -> (BlockingFramePeer, UInt32) {
        let miner = try BlockingFramePeer(connectingTo: address)
        try JobDeclarationHostileTests.setUp(miner, .mining, flags: Sv2SetupFlags.Mining.requiresWorkSelection)
        try miner.send(OpenExtendedMiningChannel(
            requestID: 1, userIdentity: user, nominalHashRate: 1_000, maxTarget: .max, minExtranonceSize: 8))
        let channel = try OpenExtendedMiningChannelSuccess(
            decoding: JobDeclarationHostileTests.expect(.openExtendedMiningChannelSuccess, from: miner))
        return (miner, channel.channelID)
    }

    /// Sends a custom job paying the pool on `tip` with `token`; the error code, or `nil` when accepted.
    static func customJob(
        _ miner: BlockingFramePeer, channel: UInt32, token: [UInt8], tip: TemplateChainTip, request: UInt32
    ) throws -> String? {
        try miner.send(SetCustomMiningJob(
            channelID: channel, requestID: request, miningJobToken: token, version: 0x2000_0000,
            prevHash: JobDeclarationWire.u256(tip.prevHash), minNtime: tip.headerTimestamp, nbits: tip.nbits,
            coinbaseTxVersion: 2, coinbasePrefix: [0x01, 0x05, 0x08], coinbaseTxInputSequence: 0xffff_ffff,
            coinbaseTxOutputs: MiningJobToken.serialize([TxOutput(value: 5_000_000_000, script: JobDeclarationHostileTests.poolScript)]),
            coinbaseTxLocktime: 0, merklePath: []))
        for _ in 0..<16 {
            let (header, payload) = try miner.readFrame()
            if header.knownMessageType == .setCustomMiningJobSuccess { return nil }
            if header.knownMessageType == .setCustomMiningJobError { return try SetCustomMiningJobError(decoding: payload).errorCode }
        }
        return "no answer"
    }

    @Test func remoteJDServerAndPoolSeriesMove() throws {
        _ = TestMetrics.registry  // bootstrapped before any series is created
        let name = TestMetrics.uniqueName("jd-remote")
        let poolRunner = try LoopRunner(.epoll)
        defer { poolRunner.stop() }
        let jdsRunner = try LoopRunner(.epoll)
        defer { jdsRunner.stop() }
        let stack = try JobDeclarationRemoteTests.start(
            poolRunner: poolRunner, jdsRunner: jdsRunner, declaresTransactions: true, metricsName: name)
        defer { JobDeclarationRemoteTests.stop(poolRunner: poolRunner, jdsRunner: jdsRunner, stack) }
        let poolPort = try #require(poolRunner.inspect { stack.poolHTTP?.localAddress?.port })
        let jdsPort = try #require(jdsRunner.inspect { stack.jdsHTTP?.localAddress?.port })
        let pool = ["server": name]
        let jds = ["server": name + "-jds"]

        // Mining through the jd-client moves the accepted series on both sides.
        let mined = try TestMetrics.scrape(port: poolPort, timeout: 60) {
            ($0.value("sv2_pool_custom_job_blocks_found_total", pool) ?? 0) >= 1
                && ($0.value("sv2_pool_custom_job_shares_accepted_total", pool) ?? 0) >= 3
        }
        #expect((mined.value("sv2_pool_custom_jobs_accepted_total", pool) ?? 0) >= 1)
        #expect((mined.value("sv2_pool_custom_job_shares_accepted_total", pool) ?? 0) >= 3)
        #expect((mined.value("sv2_pool_custom_job_blocks_found_total", pool) ?? 0) >= 1)
        #expect((mined.value("sv2_pool_custom_job_tokens_verified_total", pool) ?? 0) >= 1)
        #expect((mined.value("sv2_pool_custom_job_tokens_remembered", pool) ?? 0) >= 1)
        let declared = try TestMetrics.scrape(port: jdsPort, timeout: 60) {
            ($0.value("sv2_jds_solutions_pushed_total", jds) ?? 0) >= 1
        }
        #expect((declared.value("sv2_jds_tokens_allocated_total", jds) ?? 0) >= 1)
        #expect((declared.value("sv2_jds_jobs_declared_total", jds) ?? 0) >= 1)
        #expect((declared.value("sv2_jds_jobs_accepted_total", jds) ?? 0) >= 1)
        #expect((declared.value("sv2_jds_missing_transaction_requests_total", jds) ?? 0) >= 1)
        #expect((declared.value("sv2_jds_transactions_provided_total", jds) ?? 0) >= 1)
        #expect((declared.value("sv2_jds_solutions_pushed_total", jds) ?? 0) >= 1)
        #expect((declared.value("sv2_jds_mempool_transactions", jds) ?? 0) >= 1)
        #expect(declared.value("sv2_jds_connections", jds) == 1)
        #expect(declared.value("sv2_jds_jobs_refused_total", jds.merging(["reason": "unknown-token"]) { $1 }) == nil)

        // Refusals: a declaration with a token the JD server never issued; a custom job with a token no JD server
        // signed.
        let jdsAddress = try jdsRunner.sync { stack.jds.localAddress! }
        let declarator = try BlockingFramePeer(connectingTo: jdsAddress)
        defer { declarator.close() }
        try JobDeclarationHostileTests.setUp(declarator, .jobDeclaration)
        #expect(try JobDeclarationHostileTests.declare(
            declarator, token: [UInt8](repeating: 9, count: 16), coinbase: JobDeclarationHostileTests.fair)
            == "invalid-mining-job-token")
        let refusedDeclaration = try TestMetrics.scrape(port: jdsPort) {
            $0.value("sv2_jds_jobs_refused_total", jds.merging(["reason": "unknown-token"]) { $1 }) == 1
        }
        #expect(refusedDeclaration.value("sv2_jds_jobs_refused_total", jds.merging(["reason": "unknown-token"]) { $1 }) == 1)
        let (poolAddress, tip) = try poolRunner.sync { (stack.pool.localAddress!, stack.pool.pool.chainTip!) }
        let (miner, channel) = try Self.workSelectingChannel(poolAddress, user: "mallory")
        defer { miner.close() }
        #expect(try Self.customJob(miner, channel: channel, token: [UInt8](repeating: 1, count: 16), tip: tip, request: 1)
            == "invalid-mining-job-token")
        let refused = try TestMetrics.scrape(port: poolPort) {
            $0.value("sv2_pool_custom_job_tokens_refused_total", pool.merging(["reason": "malformed-token"]) { $1 }) == 1
        }
        #expect(refused.value("sv2_pool_custom_job_tokens_refused_total", pool.merging(["reason": "malformed-token"]) { $1 }) == 1)
        #expect(refused.value("sv2_pool_custom_jobs_refused_total", pool.merging(["reason": "invalid-mining-job-token"]) { $1 }) == 1)
    }

    /// A pool with its sibling JD server (`sv2 jd-server`): the JD server's custom-job series.
    @Test func siblingCustomJobSeriesMove() throws {
        _ = TestMetrics.registry
        let name = TestMetrics.uniqueName("jd-sibling")
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let (service, jds, http) = try runner.sync { () -> (PoolService, JobDeclarationServerService, MetricsHTTPServer) in
            let service = try PoolService(
                configuration: PoolConfiguration(payoutScript: JobDeclarationHostileTests.poolScript),
                server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .embedded(.init(refreshInterval: nil)), eventLoop: runner.loop, acceptsWorkSelection: true)
            var server = Sv2ServerConfiguration(listenAddress: clientLoopback)
            server.metricsName = name
            let jds = try JobDeclarationServerService(service: service, server: server)
            try service.start()
            try jds.start()
            let export = JobDeclarationMetrics(service: jds, name: name)
            let http = MetricsHTTPServer(registry: TestMetrics.registry, eventLoop: runner.loop)
            http.addRefresher { export.export() }
            try http.start(on: clientLoopback)
            return (service, jds, http)
        }
        defer { _ = try? runner.sync { http.stop(); jds.stop(); service.stop() } }
        #expect(try runner.wait { service.pool.chainTip != nil })
        let (poolAddress, jdsAddress, tip, port) = try runner.sync {
            (service.localAddress!, jds.localAddress!, service.pool.chainTip!, http.localAddress!.port)
        }
        let declarator = try BlockingFramePeer(connectingTo: jdsAddress)
        defer { declarator.close() }
        try JobDeclarationHostileTests.setUp(declarator, .jobDeclaration)
        let (miner, channel) = try Self.workSelectingChannel(poolAddress, user: "alice")
        defer { miner.close() }
        let token = try JobDeclarationHostileTests.allocate(declarator, user: "alice")
        #expect(try Self.customJob(miner, channel: channel, token: token, tip: tip, request: 1) == nil)
        #expect(try Self.customJob(miner, channel: channel, token: token, tip: tip, request: 2) == "invalid-mining-job-token")
        let labels = ["server": name]
        let scrape = try TestMetrics.scrape(port: port) {
            $0.value("sv2_jds_custom_jobs_refused_total", labels.merging(["reason": "replayed-token"]) { $1 }) == 1
        }
        #expect(scrape.value("sv2_jds_custom_jobs_authorized_total", labels) == 1)
        #expect(scrape.value("sv2_jds_custom_jobs_refused_total", labels.merging(["reason": "replayed-token"]) { $1 }) == 1)
        #expect(scrape.value("sv2_jds_tokens_allocated_total", labels) == 1)
    }
}
