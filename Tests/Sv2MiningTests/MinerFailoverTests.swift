import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Pool
@testable import Sv2Miner

/// `sv2 miner`'s link (issue 14): the pool restarts and the miner resumes by itself; with two pools the second is
/// used while the first is down, on both backends.
@Suite("Miner: reconnect and fail-over", .serialized)
struct MinerFailoverTests {
    static let fast = ReconnectPolicy(
        initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200), primaryRetryInterval: .milliseconds(100))

    static func pool(_ runner: LoopRunner, at address: SocketAddress) throws -> PoolService {
        var configuration = PoolConfiguration(payoutScript: testPayoutScript)
        configuration.minimumDifficulty = 1e-6
        configuration.maximumDifficulty = 1e-6
        configuration.ackBatchSize = 1
        let config = configuration
        return try runner.sync {
            let service = try PoolService(
                configuration: config, server: Sv2ServerConfiguration(listenAddress: address),
                templateSource: .embedded(.init(source: .init(nbits: 0x1d00_ffff), refreshInterval: nil)),
                eventLoop: runner.loop)
            try service.start()
            return service
        }
    }

    /// A one-thread CPU miner whose link is driven by a failover over `endpoints` (started).
    static func drivenMiner(
        _ runner: LoopRunner, endpoints: [SocketAddress]
    ) throws -> (MinerClient, Sv2Failover) {
        try runner.sync {
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(userIdentity: "rig", cpu: CPUMinerConfiguration(workerCount: 1)),
                server: Sv2ClientConfiguration(serverAddress: endpoints[0], sv2Protocol: .mining, security: .plain),
                eventLoop: runner.loop)
            let failover = try Sv2Failover(endpoints: endpoints.map(Endpoint.init), policy: fast, eventLoop: runner.loop)
            failover.drive(client)
            failover.start()
            return (client, failover)
        }
    }

    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func aMinerResumesAfterItsPoolRestartsAndFailsOverToTheNext(backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { _ = runner.stop() }
        let first = try Self.pool(runner, at: loopbackAddress)
        let firstAddress = try #require(runner.sync { first.localAddress })
        let second = try Self.pool(runner, at: loopbackAddress)
        let secondAddress = try #require(runner.sync { second.localAddress })
        let (client, failover) = try Self.drivenMiner(runner, endpoints: [firstAddress, secondAddress])
        defer { try? runner.sync { failover.stop(); client.mining.session.stop(); client.close() } }
        #expect(try runner.wait { first.pool.statistics.sharesAccepted >= 2 })

        // The first pool dies: the miner moves to the second and is credited there.
        try runner.sync { first.stop() }
        #expect(try runner.wait {
            second.pool.statistics.sharesAccepted >= 2 && failover.current == Endpoint(secondAddress)
        })
        // The first comes back on its address: the miner returns to it and mines there again.
        let restarted = try Self.pool(runner, at: firstAddress)
        #expect(try runner.wait {
            restarted.pool.statistics.sharesAccepted >= 2 && failover.current == Endpoint(firstAddress) && failover.isUp
        })
        try runner.sync {
            restarted.stop()
            second.stop()
        }
    }

    /// A pool sends `Reconnect` naming another pool: the miner goes there and is credited there.
    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func reconnectMovesAMinerToAnotherPool(backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { _ = runner.stop() }
        let first = try Self.pool(runner, at: loopbackAddress)
        let firstAddress = try #require(runner.sync { first.localAddress })
        let second = try Self.pool(runner, at: loopbackAddress)
        let secondAddress = try #require(runner.sync { second.localAddress })
        let (client, failover) = try Self.drivenMiner(runner, endpoints: [firstAddress])
        defer { try? runner.sync { failover.stop(); client.mining.session.stop(); client.close() } }
        #expect(try runner.wait { first.pool.statistics.sharesAccepted >= 1 })
        try runner.sync {
            for id in first.server.connections.ids {
                try first.server.connections.send(Reconnect(newHost: "", newPort: secondAddress.port), to: id)
            }
        }
        #expect(try runner.wait {
            second.pool.statistics.sharesAccepted >= 2 && failover.current == Endpoint(secondAddress) && failover.isUp
        })
        try runner.sync {
            first.stop()
            second.stop()
        }
    }
}
