import Foundation
import Reactor
import Sv2Codec
import Sv2Metrics
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2Miner
@testable import Sv2TemplateProvider

/// The pool and its JD server in two event loops that never call each other (issue #18): the JD server signs its
/// tokens, the pool checks them with the JD server's public key alone (``MiningJobTokenVerifier``). A CPU miner mines
/// on a jd-client whose tokens come from the remote JD server; its custom jobs, shares and blocks are the pool's.
@Suite("Job Declaration with a remote JD server: signed tokens", .serialized)
struct JobDeclarationRemoteTests {
    static let poolScript = JobDeclarationEndToEndTests.poolScript
    static let soloScript = JobDeclarationEndToEndTests.soloScript

    /// Pool side (pool, verifier, jd-client, miner: `poolRunner`) and JD server side (`jdsRunner`).
    final class Stack: @unchecked Sendable {
        var pool: PoolService!
        var verifier: MiningJobTokenVerifier!
        var jds: JobDeclarationServerService!
        var jdc: JobDeclaratorClientService!
        var miner: MinerClient?
        var poolHTTP: MetricsHTTPServer?
        var jdsHTTP: MetricsHTTPServer?
    }

    static func start(
        poolRunner: LoopRunner, jdsRunner: LoopRunner, declaresTransactions: Bool, metricsName: String? = nil
    ) throws -> Stack {
        let stack = Stack()
        let key = try AuthorityKeyPair.generate()
        var templates = EmbeddedTemplateProvider.Configuration(refreshInterval: nil)
        templates.source.nbits = 0x1e03_ffff  // about one block a second from one CPU thread
        try jdsRunner.sync {
            var server = Sv2ServerConfiguration(listenAddress: clientLoopback)
            if let metricsName { server.metricsName = metricsName + "-jds" }
            stack.jds = try JobDeclarationServerService(
                payoutScript: poolScript, server: server, halvingInterval: templates.source.halvingInterval,
                signingKey: key, eventLoop: jdsRunner.loop)
            try stack.jds.start()
            if let metricsName {
                let export = JobDeclarationMetrics(service: stack.jds, name: metricsName + "-jds")
                let http = MetricsHTTPServer(registry: TestMetrics.registry, eventLoop: jdsRunner.loop)
                http.addRefresher { export.export() }
                try http.start(on: clientLoopback)
                stack.jdsHTTP = http
            }
        }
        let jdsAddress = try jdsRunner.sync { stack.jds.localAddress! }
        try poolRunner.sync {
            var poolConfiguration = PoolConfiguration(payoutScript: poolScript)
            poolConfiguration.sharesPerMinute = 600
            var server = Sv2ServerConfiguration(listenAddress: clientLoopback)
            if let metricsName { server.metricsName = metricsName }
            stack.pool = try PoolService(
                configuration: poolConfiguration, server: server, templateSource: .embedded(templates),
                eventLoop: poolRunner.loop, acceptsWorkSelection: true)
            try stack.pool.start()
            // Only the JD server's public key: no link to it, no shared state.
            let verifier = MiningJobTokenVerifier(
                authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: poolScript)],
                halvingInterval: templates.source.halvingInterval)
            stack.verifier = verifier
            stack.pool.pool.customJobAuthorizer = { verifier.authorize($0) }
            if let metricsName {
                let export = PoolMetrics(service: stack.pool)
                let jdExport = JobDeclarationMetrics(verifier: verifier, name: metricsName)
                let http = MetricsHTTPServer(registry: TestMetrics.registry, eventLoop: poolRunner.loop)
                http.addRefresher {
                    export.export()
                    jdExport.export()
                }
                try http.start(on: clientLoopback)
                stack.poolHTTP = http
            }

            var local = PoolConfiguration(payoutScript: soloScript)
            local.sharesPerMinute = 600
            local.extranonceRollableLength = 8
            var configuration = JobDeclaratorClientConfiguration(
                local: local, downstream: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .remote(address: stack.pool.templateProviderServer!.localAddress!, security: .plain),
                pool: Sv2ClientConfiguration(serverAddress: stack.pool.localAddress!, sv2Protocol: .mining, security: .plain),
                jobDeclarator: Sv2ClientConfiguration(serverAddress: jdsAddress, sv2Protocol: .jobDeclaration, security: .plain),
                userIdentity: "jdc", nominalHashrate: 1_000)
            configuration.declaresTransactions = declaresTransactions
            stack.jdc = try JobDeclaratorClientService(configuration: configuration, eventLoop: poolRunner.loop)
            try stack.jdc.start()
        }
        #expect(try poolRunner.wait { stack.jdc.localAddress != nil })
        stack.miner = try JobDeclarationEndToEndTests.connectCPUMiner(poolRunner, to: stack.jdc)
        return stack
    }

    static func stop(poolRunner: LoopRunner, jdsRunner: LoopRunner, _ stack: Stack) {
        _ = try? poolRunner.sync {
            stack.miner?.mining.session.stop()
            stack.miner?.close()
            stack.jdc.stop()
            stack.poolHTTP?.stop()
            stack.pool.stop()
        }
        _ = try? jdsRunner.sync {
            stack.jdsHTTP?.stop()
            stack.jds.stop()
        }
    }

    static func blocks(paying script: [UInt8], _ stack: Stack) -> Int {
        stack.pool.embeddedTemplateProvider?.acceptedBlocks
            .filter { JobDeclarationEndToEndTests.contains($0.coinbaseTransaction, script) }.count ?? 0
    }

    /// Waits (on the pool's loop) until the remote JD server's tokens carried custom jobs, credited shares and a
    /// block paying the pool; then checks both sides.
    func mineForThePool(declaresTransactions: Bool) throws {
        let poolRunner = try LoopRunner(.epoll)
        defer { poolRunner.stop() }
        let jdsRunner = try LoopRunner(.epoll)
        defer { jdsRunner.stop() }
        let stack = try Self.start(poolRunner: poolRunner, jdsRunner: jdsRunner, declaresTransactions: declaresTransactions)
        defer { Self.stop(poolRunner: poolRunner, jdsRunner: jdsRunner, stack) }
        let flowed = try poolRunner.wait(timeout: 60) {
            stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged >= 3
                && Self.blocks(paying: Self.poolScript, stack) >= 1 && stack.pool.pool.statistics.customJobBlocksFound >= 1
        }
        let report = try poolRunner.sync {
            "jdc \(stack.jdc.mode) \(stack.jdc.statistics), pool \(stack.pool.pool.statistics), "
                + "verifier \(stack.verifier.authorized) \(stack.verifier.rejections)"
        }
        #expect(flowed, "\(report)")
        try poolRunner.sync {
            let pool = stack.pool.pool.statistics
            #expect(pool.customJobsAccepted >= 1)
            #expect(pool.customJobRefusals.isEmpty, "\(pool.customJobRefusals)")
            // Every custom job was authorized by the signed token alone, each token used once.
            #expect(stack.verifier.authorized == Int(pool.customJobsAccepted))
            #expect(stack.verifier.rejections.isEmpty, "\(stack.verifier.rejections)")
            #expect(stack.verifier.rememberedTokenCount == Int(pool.customJobsAccepted))
            // The forwarded shares were credited on the custom jobs; no solo block.
            #expect(pool.customJobSharesAccepted >= 3 && pool.customJobSharesAccepted == pool.sharesAccepted)
            #expect(stack.jdc.statistics.fallbacks == 0)
            #expect(Self.blocks(paying: Self.soloScript, stack) == 0)
        }
        try jdsRunner.sync {
            let jds = stack.jds.declarator.statistics
            #expect(jds.tokensAllocated >= 1)
            // The remote JD server never saw the custom jobs: the pool checked them alone.
            #expect(jds.customJobsAuthorized == 0)
            #expect(jds.rejections.isEmpty, "\(jds.rejections)")
            if declaresTransactions {
                #expect(jds.jobsAccepted >= 1 && jds.missingTransactionRequests >= 1)
            }
        }
    }

    @Test func coinbaseOnlyTokensOfARemoteJDServer() throws {
        try mineForThePool(declaresTransactions: false)
    }

    @Test func declaredJobTokensOfARemoteJDServer() throws {
        try mineForThePool(declaresTransactions: true)
    }
}
