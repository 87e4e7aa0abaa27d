import Reactor
import Sv2Codec
import Testing
@testable import Sv2Service

/// Reconnect policy, endpoints and host resolution (issue 14: reconnect and failover).
@Suite struct FailoverTests {
    @Test func backoffGrowsExponentiallyUpToTheMaximum() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(30), multiplier: 2)
        #expect(policy.baseDelay(afterFailedRounds: 0) == .milliseconds(500))
        #expect(policy.baseDelay(afterFailedRounds: 1) == .seconds(1))
        #expect(policy.baseDelay(afterFailedRounds: 3) == .seconds(4))
        #expect(policy.baseDelay(afterFailedRounds: 10) == .seconds(30))
        #expect(policy.baseDelay(afterFailedRounds: 10_000) == .seconds(30))
        // Jitter spreads the pause within ±20 %.
        #expect(policy.jittered(.seconds(10), random: 0) == .seconds(8))
        #expect(policy.jittered(.seconds(10), random: 0.5) == .seconds(10))
        #expect(policy.jittered(.seconds(10), random: 0.999_999) < .milliseconds(12_001))
    }

    @Test func endpointsParseNamesAndLiterals() throws {
        #expect(try Endpoint(parsing: "pool.example.com:34254") == Endpoint(host: "pool.example.com", port: 34254))
        #expect(try Endpoint(parsing: "10.0.0.1:1") == Endpoint(host: "10.0.0.1", port: 1))
        #expect(try Endpoint(parsing: "[::1]:3333") == Endpoint(host: "::1", port: 3333))
        #expect(try Endpoint(parsing: "[::1]:3333").description == "[::1]:3333")
        #expect(try Endpoint(parsing: "[::1]:3333").numericAddress?.family == .ipv6)
        #expect(try Endpoint(parsing: "localhost:5").numericAddress == (try SocketAddress(ip: "127.0.0.1", port: 5)))
        #expect(try Endpoint(parsing: "pool.example.com:1").numericAddress == nil)
        for bad in ["pool", "pool:", "pool:99999", ":1", "a b:1", "[::1:1", "::1:1", "x/y:1"] {
            #expect(throws: ReactorError.self) { try Endpoint(parsing: bad) }
        }
    }

    @Test func hostNamesResolveWithGetaddrinfo() throws {
        let addresses = try HostResolver.lookUp(Endpoint(host: "localhost", port: 8333)).get()
        #expect(!addresses.isEmpty)
        let loopback: Set<String> = ["127.0.0.1", "::1"]
        let ports = Set(addresses.map(\.port))
        let ips = Set(addresses.map(\.ip))
        #expect(ports == [8333])
        #expect(ips.isSubset(of: loopback))
    }

    @Test func theResolverAnswersOnTheLoop() throws {
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let results = Box<[String]>([])
        try runner.sync {
            for host in ["localhost", "127.0.0.1", "::1"] {
                HostResolver.shared.resolve(Endpoint(host: host, port: 7), on: runner.loop) { result in
                    results.value.append((try? result.get().first?.description) ?? "failed \(host)")
                }
            }
        }
        #expect(try runner.wait { results.value.count == 3 })
        let answers = Set(runner.inspect { results.value })
        let expected: Set<String> = ["127.0.0.1:7", "[::1]:7"]
        #expect(answers.isSubset(of: expected))
    }
}

/// A driven client over loopback (both backends, Noise on and off): a server restart is survived, `Reconnect`
/// is followed, and the first upstream is preferred when it is back.
@Suite struct FailoverLoopbackTests {
    static let fast = ReconnectPolicy(
        initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200), primaryRetryInterval: .milliseconds(100))

    @Test(arguments: transportMatrix)
    func aRestartedServerIsReconnectedAndReconnectRedirects(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { _ = runner.stop() }
        let first = PoolState(), second = PoolState()
        let miner = MinerState()
        let (serverA, serverB) = try runner.sync {
            (try makeServer(runner.loop, noise: noise, state: first), try makeServer(runner.loop, noise: noise, state: second))
        }
        let addressA = try #require(runner.sync { serverA.localAddress })
        let addressB = try #require(runner.sync { serverB.localAddress })
        let (client, failover) = try runner.sync {
            let client = try makeClient(runner.loop, server: addressA, noise: noise, miner: TestMiner(state: miner))
            let failover = try Sv2Failover(endpoints: [Endpoint(addressA)], policy: Self.fast, eventLoop: runner.loop)
            failover.drive(client)
            failover.start()
            return (client, failover)
        }
        #expect(try runner.wait { first.setUp.count == 1 && miner.channel != nil })

        // The server goes away and comes back on the same port: the client reconnects by itself.
        try runner.sync { serverA.stop() }
        #expect(try runner.wait { miner.closedReason != nil })
        let restarted = PoolState()
        let serverA2 = try runner.sync {
            try makeServer(runner.loop, noise: noise, state: restarted) { $0.listenAddress = addressA }
        }
        #expect(try runner.wait { restarted.setUp.count == 1 && failover.isUp })

        // Reconnect (0x04) from the server moves the client to B (the same authority key is checked there).
        try runner.sync {
            let id = try #require(restarted.setUp.first)
            try serverA2.connections.send(Reconnect(newHost: addressB.ip, newPort: addressB.port), to: id)
        }
        #expect(try runner.wait { second.setUp.count == 1 && failover.current == Endpoint(addressB) && failover.isUp })
        try runner.sync {
            failover.stop()
            client.close()
            serverA2.stop()
            serverB.stop()
        }
    }
}
