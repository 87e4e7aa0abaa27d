import AccountingTestSupport
import Foundation
import Glibc
import Reactor
import Sv2Accounting
import Sv2Codec
import Sv2Metrics
import Sv2Mining
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// One pool on two event loops (`sv2 pool --threads 2`): miners spread over both loops by `SO_REUSEPORT`, every
/// share accepted, credited in the one ledger and counted in the summed metrics, templates and blocks crossing loops.
@Suite("Pool on several loops", .serialized)
struct PoolClusterTests {
    static let backends: [ReactorBackend] = [.ioUring, .epoll]

    /// Two running loops with a cluster on them, miners on a third loop, a ledger and a journal.
    final class Setup {
        let loops: [LoopRunner]
        let miners: LoopRunner
        let cluster: PoolCluster
        let ledger: ShareLedger
        let ledgerPath: String
        let journalDirectory: String
        let journal: BlockJournal
        let metricsName: String
        private let cleanUp: () -> Void

        init(_ backend: ReactorBackend, network: EmbeddedTemplateProvider.Configuration) throws {
            loops = [try LoopRunner(backend), try LoopRunner(backend)]
            miners = try LoopRunner(backend)
            (ledgerPath, cleanUp) = temporaryLedgerPath("cluster")
            ledger = ShareLedger(store: try SQLiteLedgerStore(path: ledgerPath, node: "test"), capacity: 64)
            ledger.start()
            journalDirectory = NSTemporaryDirectory() + "cluster-journal-\(UInt64.random(in: 0...UInt64.max))"
            journal = try BlockJournal(directory: journalDirectory)
            metricsName = TestMetrics.uniqueName("cluster")
            var server = Sv2ServerConfiguration(listenAddress: loopbackAddress)
            server.metricsName = metricsName
            cluster = try PoolCluster(
                configuration: PoolServiceTests.configuration {
                    $0.ackInterval = .milliseconds(20)
                    $0.ackBatchSize = 1
                },
                server: server, templateSource: .embedded(network), eventLoops: loops.map(\.loop),
                publishUserTotals: true, snapshotInterval: .milliseconds(20))
            for (index, runner) in loops.enumerated() {
                let (cluster, ledger, journal) = (cluster, ledger, journal)
                try runner.sync {
                    let pool = cluster.services[index].pool
                    pool.blockJournal = journal
                    pool.ledger = index == 0 ? ledger : ledger.makePort()
                    try cluster.start(loop: index)
                }
            }
            for (index, runner) in loops.enumerated() {
                #expect(try runner.wait { self.cluster.services[index].pool.chainTip != nil })
            }
        }

        /// Connects `count` standard-channel miners (user `u<i>`), each waiting for its first job.
        func connect(_ count: Int) throws -> [(state: TestMinerState, client: TestMinerClient)] {
            try (0..<count).map { index in
                let state = TestMinerState(extended: index % 2 == 1, userIdentity: "u\(index)")
                return (state, try connectMiner(miners, to: cluster.services[0], state: state))
            }
        }

        /// The loop that owns a channel, from the id's partition (loop 1 hands out ids from 2^31).
        static func loop(ofChannel id: UInt32) -> Int { id >= 1 << 31 ? 1 : 0 }

        func live<T>(_ index: Int, _ body: @escaping (PoolService) -> T) throws -> T {
            let service = cluster.services[index]
            return try loops[index].sync { body(service) }
        }

        func stop() {
            for (index, runner) in loops.enumerated() {
                let cluster = cluster
                _ = try? runner.sync { cluster.stop(loop: index) }
            }
        }

        deinit {
            _ = miners.stop()
            for runner in loops { _ = runner.stop() }
            ledger.stop()
            cleanUp()
            try? FileManager.default.removeItem(atPath: journalDirectory)
        }
    }

    @Test(arguments: Self.backends)
    func sharesFromBothLoopsAreAcceptedCreditedAndCounted(_ backend: ReactorBackend) throws {
        let setup = try Setup(backend, network: PoolServiceTests.hardNetwork)
        let cluster = setup.cluster
        // 24 connections: the chance that the kernel's 4-tuple hash puts all of them on one loop is 2^-23.
        let miners = try setup.connect(24)
        let channels = try setup.miners.sync { miners.map { $0.state.channelID! } }
        let prefixes = try setup.miners.sync { miners.map { $0.state.extranoncePrefix } }
        #expect(Set(channels).count == channels.count)
        #expect(Set(prefixes).count == prefixes.count)
        let perLoop = [try setup.live(0) { $0.pool.openChannelCount }, try setup.live(1) { $0.pool.openChannelCount }]
        #expect(perLoop[0] > 0 && perLoop[1] > 0, "channels per loop: \(perLoop)")
        #expect(perLoop[0] + perLoop[1] == miners.count)
        #expect(perLoop[1] == channels.filter { Setup.loop(ofChannel: $0) == 1 }.count)

        // Every miner sends 3 shares; each is acknowledged only once its window is committed (ledger on).
        try setup.miners.sync {
            for (state, client) in miners {
                for _ in 0..<3 { try submit(try #require(state.findShare()).fields, extended: state.extended, via: client) }
            }
        }
        #expect(try setup.miners.wait { miners.allSatisfy { $0.state.acknowledged == 3 } })
        let accepted = [try setup.live(0) { $0.pool.statistics.sharesAccepted },
                        try setup.live(1) { $0.pool.statistics.sharesAccepted }]
        #expect(accepted[0] == UInt64(3 * perLoop[0]) && accepted[1] == UInt64(3 * perLoop[1]))

        // The ledger holds every user's three shares, from both loops.
        let summary = try LedgerReader(path: setup.ledgerPath).summary()
        let byUser = Dictionary(uniqueKeysWithValues: summary.map { ($0.user, $0.accepted) })
        for index in miners.indices { #expect(byUser["u\(index)"] == 3, "u\(index)") }

        // The summed figures (and the metrics built from them) equal the sum of the loops.
        #expect(try setup.loops[0].wait {
            let total = cluster.snapshot()
            return total.statistics.sharesAccepted == 72 && total.channels == 24 && total.users.count == 24
        })
        let registry = TestMetrics.registry  // bootstraps swift-metrics before the exporter makes its series
        let http = try setup.loops[0].sync { () -> MetricsHTTPServer in
            let exporter = PoolMetrics(cluster: cluster, perUser: true)
            let http = MetricsHTTPServer(registry: registry, eventLoop: setup.loops[0].loop)
            http.addRefresher { exporter.export() }
            try http.start(on: loopbackAddress)
            return http
        }
        let port = try #require(setup.loops[0].sync { http.localAddress?.port })
        let labels = ["server": setup.metricsName]
        let scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_shares_accepted_total", labels) == 72 }
        #expect(scrape.value("sv2_pool_shares_accepted_total", labels) == 72)
        #expect(scrape.value("sv2_pool_channels", labels) == 24)
        #expect(scrape.value("sv2_pool_connections", labels) == 24)
        #expect(scrape.value("sv2_pool_templates_received_total", labels) == 1)
        for index in [0, 23] {
            #expect(scrape.value("sv2_pool_user_shares_accepted_total", ["server": setup.metricsName, "user": "u\(index)"]) == 3)
        }

        // A fresh template from the one source reaches the channels of both loops.
        let jobsBefore = try setup.miners.sync { miners.map { $0.state.jobAddresses.count } }
        try setup.loops[0].sync { cluster.services[0].embeddedTemplateProvider!.refresh() }
        #expect(try setup.miners.wait {
            zip(miners, jobsBefore).allSatisfy { $0.state.jobAddresses.count > $1 }
        })
        #expect(try setup.live(1) { $0.pool.statistics.templatesReceived } == 2)

        // Clean shutdown: every loop drains and closes its miners.
        try setup.loops[0].sync { http.stop() }
        setup.stop()
        #expect(try setup.miners.wait { miners.allSatisfy { $0.state.closeReason != nil } })
        #expect(setup.ledger.stop())
        #expect(waitFor { cluster.loopSnapshots.map(\.connections) == [0, 0] })
    }

    @Test(arguments: Self.backends)
    func aBlockFoundOnTheSecondLoopIsJournaledAndSubmittedOnce(_ backend: ReactorBackend) throws {
        // Trivial network target: about half the hashes are blocks.
        let setup = try Setup(backend, network: .init(source: .init(nbits: 0x207f_ffff), refreshInterval: nil))
        let cluster = setup.cluster
        let miners = try setup.connect(24)
        let onSecond = try #require(
            try setup.miners.sync { miners.first { Setup.loop(ofChannel: $0.state.channelID!) == 1 } })
        let others = try setup.miners.sync { miners.filter { $0.state.channelID != onSecond.state.channelID } }
        let tipsBefore = try setup.miners.sync { others.map { $0.state.prevHashCount } }
        let network = Target(compact: 0x207f_ffff)!
        let hash = try setup.miners.sync { () -> Hash256 in
            let block = try #require(onSecond.state.findShare(meeting: network))
            try submit(block.fields, extended: onSecond.state.extended, via: onSecond.client)
            return block.hash
        }
        let provider = try #require(setup.live(0) { $0.embeddedTemplateProvider })
        #expect(try setup.loops[0].wait { provider.acceptedBlocks.count == 1 })
        #expect(try setup.loops[0].sync { provider.acceptedBlocks.map(\.hash) } == [hash])
        let found = try setup.live(1) { $0.pool.statistics }
        #expect(found.blocksFound == 1 && found.solutionsSubmitted == 1)
        #expect(try setup.live(0) { $0.pool.statistics.blocksFound } == 0)
        // The block's new chain tip reaches the miners of both loops.
        #expect(try setup.miners.wait { zip(others, tipsBefore).allSatisfy { $0.state.prevHashCount > $1 } })
        #expect(try setup.loops[1].wait { cluster.services[1].pool.statistics.blocksAcknowledged == 1 })
        // Journaled by the loop that found it: found, submitted, acknowledged, once each; and made whole by the
        // first loop, whose template link asked for the template's transactions before the solution went out
        // (a second found line carrying the block).
        let lines = try String(contentsOfFile: setup.journal.path, encoding: .utf8)
            .split(separator: "\n").filter { $0.contains(hash.displayHex) }
        #expect(lines.count == 4)
        for event in ["\"submitted\"", "\"acknowledged\""] {
            #expect(lines.filter { $0.contains(event) }.count == 1, "\(event)")
        }
        #expect(lines.filter { $0.contains("\"found\"") }.count == 2)
        #expect(lines.filter { $0.contains("\"block\":") }.count == 1)
        #expect(try setup.live(0) { $0.pool.statistics.blocksJournaledWhole } == 1)
        #expect(try setup.live(0) { $0.pool.statistics.blockDataFailures } == 0)
        let whole = try BlockJournalEntry(
            jsonLine: Array(try #require(lines.first { $0.contains("\"block\":") }).utf8)[...], lineNumber: 1)
        let acceptedHeader = try setup.loops[0].sync { provider.acceptedBlocks.first?.header.bytes }
        #expect(whole.blockData.map { Array($0.prefix(BlockHeader.size)) } == acceptedHeader)
        setup.stop()
        #expect(try setup.miners.wait { miners.allSatisfy { $0.state.closeReason != nil } })
    }

    /// The process-wide admission caps are split over the loops: together they never admit more connections than the
    /// one cap (the descriptor limit it protects); per-source limits are shared out rounded up.
    @Test func admissionCapsAreSplitOverTheLoops() throws {
        var server = Sv2ServerConfiguration(listenAddress: loopbackAddress)
        server.maxConnections = 1_001
        server.maxConnectionsPerSource = 25
        server.maxHandshakesInFlight = 7
        server.newConnectionsPerSourceBurst = 9
        server.newConnectionsPerSourcePerSecond = 100
        let loops = [try EventLoop(), try EventLoop()]
        let cluster = try PoolCluster(
            configuration: PoolServiceTests.configuration(), server: server,
            templateSource: .embedded(PoolServiceTests.hardNetwork), eventLoops: loops)
        for service in cluster.services {
            let part = service.server.configuration
            #expect(part.reusePort && part.maxConnections == 500 && part.maxConnectionsPerSource == 13)
            #expect(part.maxHandshakesInFlight == 4 && part.newConnectionsPerSourceBurst == 5)
            #expect(part.newConnectionsPerSourcePerSecond == 50)
        }
        let single = try PoolCluster(
            configuration: PoolServiceTests.configuration(), server: server,
            templateSource: .embedded(PoolServiceTests.hardNetwork), eventLoops: [loops[0]])
        let whole = single.services[0].server.configuration
        #expect(!whole.reusePort && whole.maxConnections == 1_001 && whole.maxConnectionsPerSource == 25)
    }

    /// A loop that falls more than `feedCapacity` events behind is resynchronised from the current tip; it ends up
    /// on the same tip and template as the first loop.
    @Test func aLoopFarBehindIsResynchronised() throws {
        let setup = try Setup(.epoll, network: PoolServiceTests.hardNetwork)
        let cluster = setup.cluster
        let provider = try #require(setup.live(0) { $0.embeddedTemplateProvider })
        // Hold loop 1 while loop 0 sends more templates than the feed holds.
        let refreshes = cluster.feedCapacity + 8
        try setup.loops[1].inspect {
            for _ in 0..<refreshes { try setup.loops[0].sync { provider.refresh() } }
            // Every template reached loop 0's pool (and its fan-out) while loop 1 was held.
            #expect(try setup.loops[0].wait {
                cluster.services[0].pool.statistics.templatesReceived >= UInt64(refreshes + 1)
            })
        }
        #expect(cluster.feedResyncs >= 1)
        let current = try setup.live(0) { ($0.pool.currentTemplate?.templateID, $0.pool.chainTip) }
        #expect(try setup.loops[1].wait {
            cluster.services[1].pool.currentTemplate?.templateID == current.0
                && cluster.services[1].pool.chainTip == current.1
        })
        let miner = TestMinerState(extended: false)
        _ = try connectMiner(setup.miners, to: cluster.services[0], state: miner)
        setup.stop()
    }
}
