import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Proxy
@testable import Sv2Miner

/// The proxy keeps its miners when its pool goes away (issue 14): no miner connection is closed, shares meanwhile
/// get a clear `upstream-unavailable`, and when the pool is back (or the next one in the list answers) the
/// channels are moved onto the new upstream channel and shares are accepted again.
@Suite("Proxy: upstream restart and fail-over keep the miners", .serialized)
struct ProxyFailoverTests {
    static let fast = ReconnectPolicy(
        initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200), primaryRetryInterval: .milliseconds(100))

    @Test func minersSurviveAPoolRestart() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let first = ClientTestPoolState(shareTarget: clientTarget(oneIn: 1 << 14))
        let server = try runner.sync { try startClientTestPool(runner.loop, state: first) }
        let address = try #require(runner.sync { server.localAddress })
        let proxy = try runner.sync {
            var configuration = ProxyConfiguration(
                downstream: Sv2ServerConfiguration(listenAddress: clientLoopback),
                upstream: clientTestConfiguration(address), userIdentity: "proxy-1", localPrefixLength: 2,
                downstreamTarget: clientTarget(oneIn: 1 << 12))
            configuration.reconnectPolicy = Self.fast
            return try ProxyAggregator.start(configuration: configuration, eventLoop: runner.loop)
        }
        let miners = try runner.sync { () -> [MinerClient] in
            try (0..<2).map { index in
                let client = try MinerSession.makeClient(
                    configuration: MinerConfiguration(
                        userIdentity: "miner-\(index)", cpu: CPUMinerConfiguration(workerCount: 1)),
                    server: clientTestConfiguration(proxy.localAddress!), eventLoop: runner.loop)
                client.connect()
                return client
            }
        }
        defer {
            try? runner.sync {
                for miner in miners { miner.mining.session.stop(); miner.close() }
                proxy.stop()
            }
        }
        #expect(try runner.wait { first.totalAccepted >= 3 })

        // The pool goes away; three seconds of nothing would be the real thing, a condition is enough here.
        try runner.sync { server.stop() }
        #expect(try runner.wait {
            proxy.statistics.upstreamLosses >= 1
                && miners.allSatisfy { $0.mining.session.statistics.rejections["upstream-unavailable", default: 0] >= 1 }
        })
        let stillConnected = runner.inspect { miners.allSatisfy { $0.isReady } }
        #expect(stillConnected)

        // It comes back on the same address: the proxy reconnects, re-prefixes the channels, shares flow again.
        let second = ClientTestPoolState(shareTarget: clientTarget(oneIn: 1 << 14))
        let restarted = try runner.sync { try startClientTestPool(runner.loop, state: second, at: address) }
        #expect(try runner.wait { second.totalAccepted >= 3 && proxy.upstreamFailover?.isUp == true })
        runner.inspect {
            #expect(miners.allSatisfy { $0.isReady })
            #expect(miners.allSatisfy { $0.statistics.connectionsOpened == 1 })  // never reconnected
            #expect(second.rejections.isEmpty, "pool rejected \(second.rejections)")
            #expect(proxy.statistics.openChannels == 2)
        }
        try runner.sync { restarted.stop() }
    }
}
