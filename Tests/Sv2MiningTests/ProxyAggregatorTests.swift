import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Proxy
@testable import Sv2Miner

@Suite("Client side: proxy aggregating standard channels into one extended channel", .serialized)
struct ProxyAggregatorTests {
    struct Setup {
        let runner: ClientTestLoop
        let pool: ClientTestPoolState
        let proxy: ProxyAggregator
        let miners: [MinerClient]
        let handles: [AnyObject]
    }

    /// Fake pool (upstream target 2^-18) ← proxy (downstream target 2^-16) ← `minerCount` one-thread miners.
    static func start(
        minerCount: Int, ackBatch: Int = 1, cumulativeAcks: Bool = false, maxUnacknowledged: Int = 65_536,
        duplicateFilterCapacity: Int = 1 << 16
    ) throws -> Setup {
        let runner = try ClientTestLoop()
        let pool = ClientTestPoolState(shareTarget: clientTarget(oneIn: 1 << 18))
        pool.ackBatch = ackBatch
        pool.cumulativeAcks = cumulativeAcks
        let (server, proxy) = try runner.sync { () -> (ClientTestPoolServer, ProxyAggregator) in
            let server = try startClientTestPool(runner.loop, state: pool)
            var configuration = ProxyConfiguration(
                downstream: Sv2ServerConfiguration(listenAddress: clientLoopback),
                upstream: clientTestConfiguration(server.localAddress!), userIdentity: "proxy-1",
                localPrefixLength: 2, downstreamTarget: clientTarget(oneIn: 1 << 16))
            configuration.maxUnacknowledgedSharesPerChannel = maxUnacknowledged
            configuration.duplicateFilterCapacity = duplicateFilterCapacity
            let proxy = try ProxyAggregator.start(configuration: configuration, eventLoop: runner.loop)
            return (server, proxy)
        }
        // Miners connect before the upstream channel is necessarily open: their opens wait for it.
        let miners = try runner.sync { () -> [MinerClient] in
            try (0..<minerCount).map { index in
                let client = try MinerSession.makeClient(
                    configuration: MinerConfiguration(
                        userIdentity: "miner-\(index)", cpu: CPUMinerConfiguration(workerCount: 1)),
                    server: clientTestConfiguration(proxy.localAddress!), eventLoop: runner.loop)
                client.connect()
                return client
            }
        }
        return Setup(runner: runner, pool: pool, proxy: proxy, miners: miners, handles: [server])
    }

    /// Stops the miners' work, then waits (flushing the pool's partial acknowledgement batches, which a batch size may
    /// never fill) until every acceptance has reached them: what the miners were told equals what the proxy accepted
    /// locally plus what the pool accepted, and the proxy's count of the latter is the pool's.
    static func stopMinersAndSettle(_ setup: Setup) throws -> Bool {
        let (runner, pool, proxy, miners) = (setup.runner, setup.pool, setup.proxy, setup.miners)
        try runner.sync { for miner in miners { miner.mining.session.stop() } }
        return try runner.wait {
            pool.flushPartialBatches()
            let relayed = miners.reduce(0) { $0 + $1.mining.session.statistics.sharesAccepted }
            return relayed == proxy.statistics.sharesAcceptedLocally + proxy.statistics.upstreamAccepted
                && proxy.statistics.upstreamAccepted == pool.totalAccepted
        }
    }

    static func finish(_ setup: Setup) throws {
        try setup.runner.sync {
            for miner in setup.miners {
                miner.mining.session.stop()
                miner.close()
            }
            setup.proxy.stop()
        }
        setup.runner.stop()
    }

    @Test func sharesFlowUpAndAcksFlowBack() throws {
        let setup = try Self.start(minerCount: 3)
        defer { try? Self.finish(setup) }
        let (runner, pool, proxy, miners) = (setup.runner, setup.pool, setup.proxy, setup.miners)
        #expect(try runner.wait {
            pool.totalAccepted >= 12 && miners.allSatisfy { $0.mining.session.statistics.sharesAccepted >= 3 }
        })
        try runner.inspect {
            let stats = proxy.statistics
            // One extended channel upstream, three standard channels downstream.
            #expect(pool.opened.count == 1 && pool.opened[0].user == "proxy-1")
            #expect(pool.channels[1]?.extranonceSize == 2)
            #expect(stats.upstreamChannelID == 1 && stats.openChannels == 3)
            // Prefixes: upstream prefix ‖ 2-byte local id, all different.
            let upstreamPrefix = try #require(stats.upstreamExtranoncePrefix)
            let prefixes = miners.compactMap { $0.mining.session.statistics.extranoncePrefix }
            #expect(prefixes.count == 3 && Set(prefixes).count == 3)
            #expect(prefixes.allSatisfy { $0.count == upstreamPrefix.count + 2 && upstreamPrefix.isPrefix(of: $0) })
            // Every share the pool saw is a valid extended share with a 2-byte extranonce naming a live channel.
            #expect(pool.rejections.isEmpty, "pool rejected \(pool.rejections)")
            let localIDs = Set(prefixes.map { Array($0.bytes.suffix(2)) })
            #expect(pool.acceptedShares.allSatisfy { localIDs.contains($0.share.extranonce.bytes) })
            #expect(Set(pool.acceptedShares.map(\.share.extranonce)).count > 1)
            // Easier downstream target: some shares are acknowledged by the proxy, the rest forwarded.
            #expect(stats.sharesAcceptedLocally > 0)
            #expect(stats.sharesForwarded >= pool.totalAccepted)
            #expect(stats.sharesRejectedLocally == 0 && stats.upstreamRejected == 0)
            for miner in miners {
                let minerStats = miner.mining.session.statistics
                #expect(minerStats.sharesRejected == 0, "\(minerStats.rejections)")
                #expect(minerStats.target == clientTarget(oneIn: 1 << 16))
            }
        }
    }

    @Test func batchedUpstreamAcksAreSplitPerChannel() throws {
        let setup = try Self.start(minerCount: 2, ackBatch: 4)
        defer { try? Self.finish(setup) }
        let (runner, pool, proxy) = (setup.runner, setup.pool, setup.proxy)
        #expect(try runner.wait { pool.successMessages >= 4 })
        // Let the last batch reach the miners, then compare totals with the work frozen. The pool's acknowledgement
        // timer (partial batches flushed while waiting) answers the last shares, which a batch of 4 may never cover.
        #expect(try Self.stopMinersAndSettle(setup))
        runner.inspect {
            #expect(proxy.statistics.upstreamAccepted == pool.totalAccepted)
            #expect(pool.successMessages >= pool.totalAccepted / 4)
            #expect(pool.rejections.isEmpty)
        }
    }

    /// SRI's pool reports totals since the channel opened; the proxy counts from sequence numbers and gives its
    /// miners per-batch counts (the spec's reading).
    @Test func cumulativeUpstreamCountsBecomeDeltasDownstream() throws {
        let setup = try Self.start(minerCount: 2, ackBatch: 2, cumulativeAcks: true)
        defer { try? Self.finish(setup) }
        let (runner, pool, proxy, miners) = (setup.runner, setup.pool, setup.proxy, setup.miners)
        #expect(try runner.wait { pool.successMessages >= 4 })
        #expect(try Self.stopMinersAndSettle(setup))
        runner.inspect {
            #expect(proxy.upstreamSemantics.isCumulative)
            #expect(proxy.statistics.upstreamAccepted == pool.totalAccepted)
            for miner in miners {
                // Downstream sees the spec's per-batch counts: never cumulative, always matching the sequence numbers.
                let acks = miner.mining.session.acknowledgements
                #expect(!acks.semantics.isCumulative && acks.semantics.inconsistentCount == 0)
                #expect(acks.accepted == UInt64(miner.mining.session.statistics.sharesAccepted))
            }
        }
    }

    /// A pool that does not answer holds back a channel's acknowledgements (they go out in order); past the bound
    /// the proxy refuses further shares `upstream-unavailable` instead of queueing them, and the miner stays up.
    @Test func unansweredUpstreamSharesAreBounded() throws {
        let setup = try Self.start(minerCount: 1, ackBatch: 1_000_000, maxUnacknowledged: 3)
        defer { try? Self.finish(setup) }
        let (runner, proxy, miners) = (setup.runner, setup.proxy, setup.miners)
        #expect(try runner.wait { miners[0].mining.session.statistics.rejections["upstream-unavailable", default: 0] >= 1 })
        runner.inspect {
            #expect(proxy.statistics.sharesForwarded >= 1 && proxy.statistics.sharesDroppedCongested >= 1)
            #expect(miners[0].isReady)
            // Only shares the proxy accepted itself before the first forwarded one were acknowledged; nothing behind
            // the unanswered share, and the counts the miner got match its sequence numbers.
            let session = miners[0].mining.session
            #expect(proxy.statistics.upstreamAccepted == 0)
            #expect(session.statistics.sharesAccepted <= proxy.statistics.sharesAcceptedLocally)
            #expect(session.acknowledgements.semantics.inconsistentCount == 0)
        }
    }

    /// A downstream channel whose duplicate filter fills (here after 12 shares) gets its running job again above an
    /// ntime floor and keeps mining; it used to get only `stale-share` until the next chain tip.
    @Test func aFullDuplicateFilterRenewsTheJobInsteadOfStallingTheMiner() throws {
        let setup = try Self.start(minerCount: 1, duplicateFilterCapacity: 16)
        defer { try? Self.finish(setup) }
        let (runner, proxy, miners) = (setup.runner, setup.proxy, setup.miners)
        #expect(try runner.wait {
            proxy.statistics.duplicateFilterRollovers >= 3 && miners[0].mining.session.statistics.sharesAccepted >= 40
        })
        runner.inspect {
            let stats = miners[0].mining.session.statistics
            // Only shares already in flight when a renewal happened may be refused (as stale).
            let refused = stats.rejections.filter { $0.key != "stale-share" }
            #expect(refused.isEmpty, "\(stats.rejections)")
            #expect(proxy.statistics.upstreamRejected == 0)
        }
    }

    @Test func newChainTipIsRelayedAndStaleWorkAbandoned() throws {
        let setup = try Self.start(minerCount: 2)
        defer { try? Self.finish(setup) }
        let (runner, pool, proxy, miners) = (setup.runner, setup.pool, setup.proxy, setup.miners)
        #expect(try runner.wait { pool.totalAccepted >= 3 })
        try runner.sync { try pool.newBlock() }
        #expect(try runner.wait {
            (pool.accepted[2] ?? 0) >= 5 && miners.allSatisfy { $0.mining.session.tracker?.work?.jobID == 2 }
        })
        runner.inspect {
            #expect(proxy.statistics.prevHashesReceived == 2)
            #expect(miners.allSatisfy { $0.mining.session.statistics.prevHashesReceived == 2 })
            // Only shares already in flight at the switch may be stale, at the proxy or at the pool.
            let stale = (proxy.statistics.rejections["stale-share"] ?? 0) + (pool.rejections["stale-share"] ?? 0)
            #expect(stale <= 4)
        }
    }

    @Test func extendedDownstreamChannelsAreRefused() throws {
        let setup = try Self.start(minerCount: 0)
        defer { try? Self.finish(setup) }
        let runner = setup.runner
        let client = try runner.sync { () -> MinerClient in
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(userIdentity: "x", channelType: .extended),
                server: clientTestConfiguration(setup.proxy.localAddress!), eventLoop: runner.loop)
            client.connect()
            return client
        }
        #expect(try runner.wait { client.mining.session.statistics.channelError != nil })
        runner.inspect {
            #expect(client.mining.session.statistics.channelError == "extended-channels-not-supported")
        }
        try runner.sync { client.close() }
    }
}
