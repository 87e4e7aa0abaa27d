import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining

@Suite("Client side: Job Declaration flow", .serialized)
struct JobDeclarationTests {
    typealias JDSServer =
        Sv2Server<NullSv2MiningServerHandler, JobDeclaratorServerHandler, NullSv2TemplateDistributionServerHandler>

    static let payout = TxOutput(value: 0, script: [0x00, 0x14] + [UInt8](repeating: 0x42, count: 20))
    static let transactions: [[UInt8]] = (1...3).map { [0x02, 0, 0, 0, 0x01] + [UInt8](repeating: $0, count: 60) }

    static func start(_ runner: ClientTestLoop, jds: JobDeclaratorServer, clients: Int) throws -> (JDSServer, [JobDeclarationClient]) {
        try runner.sync {
            let server = try JDSServer(
                configuration: Sv2ServerConfiguration(listenAddress: clientLoopback), eventLoop: runner.loop,
                mining: NullSv2MiningServerHandler(), jobDeclaration: jds.handler,
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            let jdcs = try (0..<clients).map { index in
                let client = try JobDeclaratorClient.makeClient(
                    userIdentifier: "jdc-\(index)",
                    server: Sv2ClientConfiguration(
                        serverAddress: server.localAddress!, sv2Protocol: .jobDeclaration, security: .plain),
                    eventLoop: runner.loop)
                client.connect()
                return client
            }
            return (server, jdcs)
        }
    }

    @Test func declarationWithMissingTransactionsIsAccepted() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        jds.addTransaction(Self.transactions[0])  // the server already knows the first one
        let (server, clients) = try Self.start(runner, jds: jds, clients: 1)
        let jdc = clients[0].jobDeclaration.state
        #expect(try runner.wait { jdc.tokens.count == 2 })
        runner.inspect {
            // Tokens carry the pool outputs, CompactSize-prefixed.
            #expect(jdc.tokens[0].coinbaseOutputs == [0x01] + Self.payout.serialized)
            #expect(Set(jdc.tokens.map(\.bytes)).count == 2)
        }
        let requestID = try runner.sync {
            try jdc.declare(
                version: 0x2000_0000, coinbasePrefix: [0x02, 0, 0, 0, 0, 1], coinbaseSuffix: [0xff, 0xff, 0xff, 0xff],
                transactions: Self.transactions)
        }
        #expect(try runner.wait { jdc.declarations[requestID] != .pending })
        runner.inspect {
            guard case .accepted(let token) = jdc.declarations[requestID] else {
                Issue.record("declaration not accepted: \(String(describing: jdc.declarations[requestID]))")
                return
            }
            // Positions 1 and 2 were asked for and provided; the job is on file under the new token.
            #expect(jds.statistics.missingTransactionRequests == 1 && jds.statistics.transactionsProvided == 2)
            #expect(jdc.statistics.transactionsProvided == 2)
            let job = jds.declaredJob(token: token)
            #expect(job?.wtxids == Self.transactions.map { SHA256d.hash($0) })
            #expect(job?.version == 0x2000_0000)
            #expect(jds.mempool.count == 3)
            // A token was used: the client topped up to two again.
            #expect(jds.statistics.tokensAllocated == 3)
        }
        _ = server
    }

    @Test func tokensAreSingleUseAndBoundToTheirConnection() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        let (server, clients) = try Self.start(runner, jds: jds, clients: 2)
        let (first, second) = (clients[0].jobDeclaration.state, clients[1].jobDeclaration.state)
        #expect(try runner.wait { first.tokens.count == 2 && second.tokens.count == 2 })
        let (stolen, reused, own) = try runner.sync { () -> (UInt32, UInt32, UInt32) in
            let token = first.tokens[0].bytes
            let stolen = try second.declare(
                version: 1, coinbasePrefix: [1], coinbaseSuffix: [2], transactions: [], token: token)
            let own = try first.declare(version: 1, coinbasePrefix: [1], coinbaseSuffix: [2], transactions: [])
            let reused = try first.declare(version: 1, coinbasePrefix: [1], coinbaseSuffix: [2], transactions: [], token: token)
            return (stolen, reused, own)
        }
        #expect(try runner.wait { first.declarations[reused] != .pending && second.declarations[stolen] != .pending })
        runner.inspect {
            #expect(second.declarations[stolen] == .rejected(code: "invalid-mining-job-token"))
            if case .accepted = first.declarations[own] {} else { Issue.record("own token refused") }
            #expect(first.declarations[reused] == .rejected(code: "invalid-mining-job-token"))
            #expect(jds.statistics.rejections == ["invalid-mining-job-token": 2])
        }
        _ = server
    }

    @Test func pushedSolutionReachesTheServer() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        let received = ClientBox<[PushSolution]>([])
        jds.onSolution = { received.value.append($0) }
        let (server, clients) = try Self.start(runner, jds: jds, clients: 1)
        let jdc = clients[0].jobDeclaration.state
        #expect(try runner.wait { clients[0].isReady })
        let solution = PushSolution(
            extranonce: [1, 2, 3, 4], prevHash: WireConversions.u256(MinerJobTrackerTests.prevHash), nonce: 7, ntime: 8,
            nbits: 0x207f_ffff, version: 0x2000_0000)
        try runner.sync { try jdc.pushSolution(solution) }
        #expect(try runner.wait { !received.value.isEmpty })
        runner.inspect {
            #expect(received.value == [solution])
            #expect(jds.statistics.solutionsPushed == 1 && jdc.statistics.solutionsPushed == 1)
        }
        _ = server
    }
}
