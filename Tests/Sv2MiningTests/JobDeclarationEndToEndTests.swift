import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2Miner
@testable import Sv2TemplateProvider

/// The three Job Declaration roles in one process, over loopback: a CPU miner mines on a jd-client, which takes its
/// templates from the pool's embedded template source, declares every job to the pool (coinbase-only mode, tokens
/// from the pool's JD server) and forwards the shares; blocks are submitted by the jd-client itself.
@Suite("Job Declaration end to end: miner → jd-client → pool + jd-server", .serialized)
struct JobDeclarationEndToEndTests {
    typealias JDSServer =
        Sv2Server<NullSv2MiningServerHandler, JobDeclaratorServerHandler, NullSv2TemplateDistributionServerHandler>

    static let poolScript: [UInt8] = [0x00, 0x14] + [UInt8](repeating: 0x11, count: 20)
    static let soloScript: [UInt8] = [0x00, 0x14] + [UInt8](repeating: 0x22, count: 20)

    /// Everything one test runs (kept alive by the test; touched on the loop thread only).
    final class Stack: @unchecked Sendable {
        var pool: PoolService!
        var jds: JobDeclaratorServer!
        var jdsServer: JDSServer!
        var jdc: JobDeclaratorClientService!
        var miner: MinerClient?
    }

    static func makeJDSServer(_ jds: JobDeclaratorServer, at address: SocketAddress, loop: EventLoop) throws -> JDSServer {
        let server = try JDSServer(
            configuration: Sv2ServerConfiguration(listenAddress: address), eventLoop: loop,
            mining: NullSv2MiningServerHandler(), jobDeclaration: jds.handler,
            templateDistribution: NullSv2TemplateDistributionServerHandler())
        try server.start()
        return server
    }

    /// Pool (embedded template source, work selection, its JD server as the custom-job check) and a jd-client.
    static func start(
        _ runner: LoopRunner, declaresTransactions: Bool = false,
        configure: @escaping (inout JobDeclaratorClientConfiguration) -> Void = { _ in }
    ) throws -> Stack {
        let stack = Stack()
        try runner.sync {
            var poolConfiguration = PoolConfiguration(payoutScript: poolScript)
            poolConfiguration.sharesPerMinute = 600
            var templates = EmbeddedTemplateProvider.Configuration(refreshInterval: nil)
            templates.source.nbits = 0x1e03_ffff  // about one block a second from one CPU thread
            stack.pool = try PoolService(
                configuration: poolConfiguration, server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .embedded(templates), eventLoop: runner.loop, acceptsWorkSelection: true)
            try stack.pool.start()
            let jds = JobDeclaratorServer(
                coinbaseOutputs: [TxOutput(value: 0, script: poolScript)], halvingInterval: templates.source.halvingInterval)
            stack.jds = jds
            stack.pool.pool.customJobAuthorizer = { jds.authorize($0) }  // sibling: a direct call
            stack.jdsServer = try makeJDSServer(jds, at: clientLoopback, loop: runner.loop)

            var local = PoolConfiguration(payoutScript: soloScript)
            local.sharesPerMinute = 600
            local.extranonceRollableLength = 8  // the minimum asked of the pool; it gives 16 (4 + 12 then)
            var configuration = JobDeclaratorClientConfiguration(
                local: local, downstream: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .remote(address: stack.pool.templateProviderServer!.localAddress!, security: .plain),
                pool: Sv2ClientConfiguration(serverAddress: stack.pool.localAddress!, sv2Protocol: .mining, security: .plain),
                jobDeclarator: Sv2ClientConfiguration(
                    serverAddress: stack.jdsServer.localAddress!, sv2Protocol: .jobDeclaration, security: .plain),
                userIdentity: "jdc", nominalHashrate: 1_000)  // easy pool target: every local share goes up
            configuration.reconnectPolicy = ReconnectPolicy(
                initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200), multiplier: 2, jitter: 0,
                primaryRetryInterval: .seconds(1))
            configuration.declaresTransactions = declaresTransactions
            configure(&configuration)
            stack.jdc = try JobDeclaratorClientService(configuration: configuration, eventLoop: runner.loop)
            try stack.jdc.start()
        }
        #expect(try runner.wait { stack.jdc.localAddress != nil })
        stack.miner = try connectCPUMiner(runner, to: stack.jdc)
        return stack
    }

    /// A one-worker CPU miner on an extended channel, connected to `jdc` on `runner`'s loop (the end-to-end tests'
    /// only miner).
    static func connectCPUMiner(_ runner: LoopRunner, to jdc: JobDeclaratorClientService) throws -> MinerClient {
        try runner.sync {
            let miner = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "cpu", nominalHashrate: 1_000, channelType: .extended,
                    cpu: CPUMinerConfiguration(workerCount: 1)),
                server: Sv2ClientConfiguration(serverAddress: jdc.localAddress!, sv2Protocol: .mining, security: .plain),
                eventLoop: runner.loop)
            miner.connect()
            return miner
        }
    }

    static func stop(_ runner: LoopRunner, _ stack: Stack) {
        _ = try? runner.sync {
            stack.miner?.mining.session.stop()
            stack.miner?.close()
            stack.jdc.stop()
            stack.jdsServer.stop()
            stack.pool.stop()
        }
    }

    static func contains(_ coinbase: [UInt8], _ script: [UInt8]) -> Bool {
        guard coinbase.count >= script.count else { return false }
        return (0...(coinbase.count - script.count)).contains { Array(coinbase[$0..<($0 + script.count)]) == script }
    }

    /// Blocks accepted by the template source whose coinbase pays `script`.
    static func blocks(paying script: [UInt8], _ stack: Stack) -> Int {
        stack.pool.embeddedTemplateProvider?.acceptedBlocks.filter { contains($0.coinbaseTransaction, script) }.count ?? 0
    }

    @Test func customJobsAreMinedForThePoolAndBlocksAccepted() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let stack = try Self.start(runner)
        defer { Self.stop(runner, stack) }
        let flowed = try runner.wait(timeout: 60) {
            stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged >= 3
                && Self.blocks(paying: Self.poolScript, stack) >= 1 && stack.pool.pool.statistics.blocksFound >= 1
        }
        let report = try runner.sync {
            "jdc \(stack.jdc.mode) \(stack.jdc.statistics), local \(stack.jdc.pool.statistics), pool \(stack.pool.pool.statistics), "
                + "jds \(stack.jds.statistics), blocks \(stack.pool.embeddedTemplateProvider?.acceptedBlocks.count ?? 0)"
        }
        #expect(flowed, "\(report)")
        try runner.sync {
            let pool = stack.pool.pool.statistics
            // Every custom job went through the JD server's token and payout check; none was refused.
            #expect(pool.customJobsAccepted >= 1)
            #expect(pool.customJobRefusals.isEmpty, "\(pool.customJobRefusals)")
            #expect(stack.jds.statistics.customJobsAuthorized == Int(pool.customJobsAccepted))
            #expect(stack.jds.statistics.rejections.isEmpty, "\(stack.jds.statistics.rejections)")
            // The pool credited the forwarded shares; the jd-client never mined solo.
            #expect(pool.sharesAccepted >= 3)
            #expect(stack.jdc.statistics.fallbacks == 0)
            // Every block the template source took in pool mode pays the pool, none the jd-client's own payout.
            #expect(Self.blocks(paying: Self.soloScript, stack) == 0)
        }
    }

    /// The JD server goes away: the jd-client mines solo (its own payout) and returns to the pool when it is back.
    @Test func fallsBackToSoloAndReturns() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let stack = try Self.start(runner)
        defer { Self.stop(runner, stack) }
        #expect(try runner.wait(timeout: 60) { stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged >= 1 })
        let address = try runner.sync { () -> SocketAddress in
            let address = stack.jdsServer.localAddress!
            stack.jdsServer.stop()
            return address
        }
        let solo = try runner.wait(timeout: 60) {
            stack.jdc.mode == .solo && Self.blocks(paying: Self.soloScript, stack) >= 1
        }
        let soloReport = try runner.sync { "\(stack.jdc.mode) \(stack.jdc.statistics)" }
        #expect(solo, "\(soloReport)")
        let (acknowledged, poolBlocks) = try runner.sync { () -> (Int, Int) in
            stack.jdsServer = try Self.makeJDSServer(stack.jds, at: address, loop: runner.loop)
            return (stack.jdc.statistics.sharesAcknowledged, Self.blocks(paying: Self.poolScript, stack))
        }
        let back = try runner.wait(timeout: 60) {
            stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged > acknowledged
                && Self.blocks(paying: Self.poolScript, stack) > poolBlocks
        }
        let backReport = try runner.sync {
            "\(stack.jdc.mode) \(stack.jdc.statistics) local \(stack.jdc.pool.statistics) pool \(stack.pool.pool.statistics) "
                + "rejected solutions \(stack.pool.embeddedTemplateProvider!.rejectedSolutions), miner \(stack.miner!.mining.session.statistics)"
        }
        #expect(back, "\(backReport)")
        try runner.sync {
            #expect(stack.jdc.statistics.fallbacks == 1 && stack.jdc.statistics.returns >= 2)
        }
    }
}

extension JobDeclarationEndToEndTests {
    /// The pool link drops and the channel is reopened with another extranonce prefix: the miner's channel moves
    /// along (SetExtranoncePrefix) and its shares keep being credited by the pool.
    @Test func reopenedPoolChannelMovesTheMinersAlong() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let stack = try Self.start(runner)
        defer { Self.stop(runner, stack) }
        #expect(try runner.wait(timeout: 60) { stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged >= 1 })
        let (prefix, minerPrefix) = try runner.sync { () -> (Extranonce, Extranonce?) in
            let prefix = stack.jdc.pool.upstreamExtranoncePrefix
            stack.jdc.poolClient?.close()  // the link drops; the failover reconnects and a new channel is opened
            return (prefix, stack.miner?.mining.session.statistics.extranoncePrefix)
        }
        let moved = try runner.wait(timeout: 60) {
            stack.jdc.statistics.channelsOpened == 2 && stack.jdc.mode == .pool
                && stack.jdc.pool.upstreamExtranoncePrefix != prefix
                && stack.miner?.mining.session.statistics.extranoncePrefix != minerPrefix
        }
        #expect(moved)
        let acknowledged = try runner.sync { stack.jdc.statistics.sharesAcknowledged }
        let credited = try runner.wait(timeout: 60) {
            stack.jdc.statistics.sharesAcknowledged > acknowledged + 2
        }
        let report = try runner.sync {
            "\(stack.jdc.mode) \(stack.jdc.statistics) local \(stack.jdc.pool.statistics) miner \(stack.miner!.mining.session.statistics)"
        }
        #expect(credited, "\(report)")
        try runner.sync {
            // The miner kept its channel (no reconnect), now under the new pool prefix.
            let newPrefix = stack.jdc.pool.upstreamExtranoncePrefix
            let minerPrefix = try #require(stack.miner?.mining.session.statistics.extranoncePrefix)
            #expect(newPrefix.isPrefix(of: minerPrefix))
            #expect(stack.jdc.pool.statistics.channelsOpened == 1)
            #expect(stack.jdc.statistics.shareRejections.isEmpty, "\(stack.jdc.statistics.shareRejections)")
        }
    }
}

extension JobDeclarationEndToEndTests {
    /// Full-template mode: every template's transactions are declared to the JD server (which asks for the ones it
    /// lacks), and the custom job names the accepted declaration's token.
    @Test func fullTemplateDeclarations() throws {
        let pushed = Box<[PushSolution]>([])
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let stack = try Self.start(runner, declaresTransactions: true)
        defer { Self.stop(runner, stack) }
        try runner.sync { stack.jds.onSolution = { solution, job in if job != nil { pushed.value.append(solution) } } }
        let flowed = try runner.wait(timeout: 60) {
            stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged >= 3
                && Self.blocks(paying: Self.poolScript, stack) >= 1 && stack.jds.statistics.solutionsPushed >= 1
        }
        let report = try runner.sync {
            "jdc \(stack.jdc.statistics), jds \(stack.jds.statistics), pool \(stack.pool.pool.statistics)"
        }
        #expect(flowed, "\(report)")
        try runner.sync {
            let jds = stack.jds.statistics
            // Declarations were accepted after the missing transactions were provided, and the pool's custom jobs
            // named their tokens (each authorized against a declared job, none refused).
            #expect(jds.jobsAccepted >= 1 && jds.missingTransactionRequests >= 1 && jds.transactionsProvided >= 3)
            #expect(jds.rejections.isEmpty, "\(jds.rejections)")
            #expect(stack.pool.pool.statistics.customJobRefusals.isEmpty)
            #expect(stack.pool.pool.statistics.customJobsAccepted >= 1)
            #expect(stack.jdc.declarator.statistics.jobsAccepted >= 1)
            #expect(stack.jdc.statistics.declarationRefusals.isEmpty && stack.jdc.statistics.transactionDataFailures == 0)
            // Blocks were pushed to the JD server with the full extranonce of the block's coinbase, against the
            // job last declared on that connection.
            let blocks = stack.pool.embeddedTemplateProvider!.acceptedBlocks
            #expect(!pushed.value.isEmpty)
            for solution in pushed.value {
                let block = blocks.first { $0.header.nonce == solution.nonce && $0.header.ntime == solution.ntime }
                guard let block else { continue }  // a sibling the source did not take
                #expect(solution.extranonce.count == 20)
                #expect(JobDeclarationEndToEndTests.contains(block.coinbaseTransaction, solution.extranonce))
            }
        }
    }
}

extension JobDeclarationEndToEndTests {
    /// Ordered address lists: the first pool and the first JD server are down, the jd-client mines for the pool
    /// through the second of each.
    @Test func firstPoolAndJDServerDownSecondUsed() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        // An address nothing listens on any more.
        let dead = try runner.sync { () -> SocketAddress in
            let server = try Self.makeJDSServer(
                JobDeclaratorServer(coinbaseOutputs: [TxOutput(value: 0, script: Self.poolScript)]), at: clientLoopback,
                loop: runner.loop)
            let address = server.localAddress!
            server.stop()
            return address
        }
        let stack = try Self.start(runner) { configuration in
            configuration.poolEndpoints = [Endpoint(dead), Endpoint(configuration.pool.serverAddress)]
            configuration.jobDeclaratorEndpoints = [Endpoint(dead), Endpoint(configuration.jobDeclarator.serverAddress)]
            configuration.pool.serverAddress = dead
            configuration.jobDeclarator.serverAddress = dead
        }
        defer { Self.stop(runner, stack) }
        let flowed = try runner.wait(timeout: 60) {
            stack.jdc.mode == .pool && stack.jdc.statistics.sharesAcknowledged >= 1
                && stack.pool.pool.statistics.customJobsAccepted >= 1
        }
        let report = try runner.sync { "\(stack.jdc.mode) \(stack.jdc.statistics) jds \(stack.jds.statistics)" }
        #expect(flowed, "\(report)")
        try runner.sync {
            #expect(stack.jdc.poolEndpoint == Endpoint(stack.pool.localAddress!))
            #expect(stack.jdc.jobDeclaratorEndpoint == Endpoint(stack.jdsServer.localAddress!))
            #expect(stack.jds.statistics.tokensAllocated >= 1)
        }
    }
}
