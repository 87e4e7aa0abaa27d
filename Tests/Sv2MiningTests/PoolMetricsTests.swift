import AccountingTestSupport
import Foundation
import Glibc
import Reactor
import Sv2Accounting
import Sv2Codec
import Sv2Metrics
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Pool
@testable import Sv2Proxy
@testable import Sv2TemplateProvider

/// `/metrics` scraped with a real HTTP client (a plain socket GET) while two pools and a proxy run in one process:
/// every exported series is checked to move, and the two pools' series never merge.
@Suite("Metrics endpoint", .serialized)
struct PoolMetricsTests {
    /// A share on the miner's active job that is not a block (its hash misses the network target).
    static func ordinaryShare(_ miner: TestMinerState) throws -> ShareFields {
        let network = Target(compact: miner.nbits)!
        for _ in 0..<10_000 {
            let share = try #require(miner.findShare())
            if !network.isMet(by: share.hash) { return share.fields }
        }
        throw PoolUnitMinerError.noChannel
    }

    /// `perUser`: lifetime totals per user identity (a closed channel's shares stay counted), the first
    /// `maximumTrackedUsers` users one by one, every later one summed into `untracked_users_*`.
    @Test func perUserSeriesAreBoundedAndNeverGoBackwards() throws {
        let registry = TestMetrics.registry
        let name = TestMetrics.uniqueName("pool-users")
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let (service, http) = try runner.sync { () -> (PoolService, MetricsHTTPServer) in
            var server = Sv2ServerConfiguration(listenAddress: loopbackAddress)
            server.metricsName = name
            let service = try PoolService(
                configuration: PoolServiceTests.configuration {
                    $0.ackBatchSize = 1
                    $0.maximumTrackedUsers = 2
                },
                server: server, templateSource: .embedded(PoolServiceTests.hardNetwork), eventLoop: runner.loop)
            try service.start()
            let export = PoolMetrics(service: service, perUser: true)
            let http = MetricsHTTPServer(registry: registry, eventLoop: runner.loop)
            http.addRefresher { export.export() }
            try http.start(on: loopbackAddress)
            return (service, http)
        }
        #expect(try runner.wait { service.pool.chainTip != nil })
        let port = try #require(runner.inspect { http.localAddress?.port })
        let miners = ["alice", "bob", "carol"].map { TestMinerState(extended: false, userIdentity: $0) }
        var clients: [TestMinerClient] = []
        var aliceShare: ShareFields?
        for (index, miner) in miners.enumerated() {
            clients.append(try connectMiner(runner, to: service, state: miner))
            try runner.sync {
                for _ in 0...index {
                    let share = try Self.ordinaryShare(miner)
                    if index == 0 { aliceShare = share }
                    try clients[index].send(share.standard)
                }
            }
            #expect(try runner.wait { miner.acknowledged == UInt32(index + 1) })
        }
        let labels = { (user: String) in ["server": name, "user": user] }
        var scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_user_shares_accepted_total", labels("bob")) == 2 }
        #expect(scrape.value("sv2_pool_user_shares_accepted_total", labels("alice")) == 1)
        #expect(scrape.value("sv2_pool_user_shares_accepted_total", labels("carol")) == nil)  // third user: not tracked
        #expect(scrape.value("sv2_pool_untracked_users_shares_accepted_total", ["server": name]) == 3)
        let bobDifficulty = try #require(scrape.value("sv2_pool_user_difficulty_accepted_total", labels("bob")))
        #expect(bobDifficulty > 0)
        #expect(scrape.value("sv2_pool_user_shares_rejected_total", labels("alice")) == 0)

        // Bob leaves: his totals stay; a duplicate from Alice counts as her rejection.
        try runner.sync { clients[1].close() }
        #expect(try runner.wait { service.pool.openChannelCount == 2 })
        let again = try #require(aliceShare)
        try runner.sync { try clients[0].send(again.standard) }
        #expect(try runner.wait { miners[0].errors.count == 1 })
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_user_shares_rejected_total", labels("alice")) == 1 }
        #expect(scrape.value("sv2_pool_user_shares_accepted_total", labels("bob")) == 2)
        #expect(scrape.value("sv2_pool_user_difficulty_accepted_total", labels("bob")) == bobDifficulty)
        try runner.sync {
            for client in clients { client.close() }
            http.stop()
            service.stop()
        }
    }

    /// `sv2_pool_journal_unsettled_blocks`: what the app read from the block journal at start-up, as set before each
    /// export, per pool (`server` label), going down as blocks are settled.
    @Test func journalUnsettledBlocksGaugeFollowsTheApp() throws {
        let registry = TestMetrics.registry
        let name = TestMetrics.uniqueName("pool-journal")
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let remaining = Box(3)
        let (http, export) = try runner.sync { () -> (MetricsHTTPServer, PoolMetrics) in
            var server = Sv2ServerConfiguration(listenAddress: loopbackAddress)
            server.metricsName = name
            let service = try PoolService(
                configuration: PoolServiceTests.configuration { _ in }, server: server,
                templateSource: .embedded(PoolServiceTests.hardNetwork), eventLoop: runner.loop)
            try service.start()
            let export = PoolMetrics(service: service)
            let http = MetricsHTTPServer(registry: registry, eventLoop: runner.loop)
            http.addRefresher {
                export.journalUnsettledBlocks = remaining.value
                export.export()
            }
            try http.start(on: loopbackAddress)
            return (http, export)
        }
        let port = try #require(runner.inspect { http.localAddress?.port })
        var scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_journal_unsettled_blocks", ["server": name]) != nil }
        #expect(scrape.value("sv2_pool_journal_unsettled_blocks", ["server": name]) == 3)
        try runner.sync { remaining.value = 0 }
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_journal_unsettled_blocks", ["server": name]) == 0 }
        #expect(scrape.value("sv2_pool_journal_unsettled_blocks", ["server": name]) == 0)
        _ = export
    }

    @Test func everyPoolSeriesMovesAndTwoPoolsStayApart() throws {
        let registry = TestMetrics.registry
        let (nameA, nameB) = (TestMetrics.uniqueName("pool-a"), TestMetrics.uniqueName("pool-b"))
        let (path, cleanUp) = temporaryLedgerPath("metrics")
        defer { cleanUp() }
        let store = GatedStore(try SQLiteLedgerStore(path: path))
        let ledger = ShareLedger(store: store, capacity: 1, retryDelay: .milliseconds(10))
        ledger.start()
        defer { store.reopen(); ledger.stop() }
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let authority = try AuthorityKeyPair.generate()

        // Pool A: Noise, a ledger, a trivial network target (blocks are easy), a journal on a full disk.
        // Pool B: plain, no ledger; it only gets a bad connection.
        let (a, b, http) = try runner.sync { () -> (PoolService, PoolService, MetricsHTTPServer) in
            var serverA = Sv2ServerConfiguration(
                listenAddress: loopbackAddress,
                noise: .freshStaticKeyPerConnection(authority: authority, certificateValidity: 600))
            serverA.metricsName = nameA
            let a = try PoolService(
                configuration: PoolServiceTests.configuration {
                    $0.ackInterval = .milliseconds(20)
                    $0.ackBatchSize = 1
                    // Easier than the network target (difficulty ~4.7e-10): about half the shares are blocks.
                    $0.minimumDifficulty = 2.5e-10
                    $0.maximumDifficulty = 2.5e-10
                },
                server: serverA, templateSource: .embedded(.init(source: .init(nbits: 0x207f_ffff), refreshInterval: nil)),
                eventLoop: runner.loop)
            try a.start()
            a.pool.ledger = ledger
            a.pool.blockJournal = FullDiskJournal()
            var serverB = Sv2ServerConfiguration(listenAddress: loopbackAddress)
            serverB.metricsName = nameB
            let b = try PoolService(
                configuration: PoolServiceTests.configuration(), server: serverB,
                templateSource: .embedded(PoolServiceTests.hardNetwork), eventLoop: runner.loop)
            try b.start()
            let exportA = PoolMetrics(service: a, ledger: ledger)
            let exportB = PoolMetrics(service: b)
            let http = MetricsHTTPServer(registry: registry, eventLoop: runner.loop)
            http.addRefresher { exportA.export(); exportB.export() }
            try http.start(on: loopbackAddress)
            return (a, b, http)
        }
        #expect(try runner.wait { a.pool.chainTip != nil && b.pool.chainTip != nil })
        let port = try #require(runner.inspect { http.localAddress?.port })
        let A = ["server": nameA], B = ["server": nameB]

        // Before any miner: the link is up, a template is there, nothing counted yet.
        var scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_template_source_up", A) == 1 }
        #expect(scrape.status == 200)
        #expect(scrape.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(scrape.value("sv2_pool_connections", A) == 0 && scrape.value("sv2_pool_channels", A) == 0)
        #expect(scrape.value("sv2_pool_template_age_seconds", A).map { $0 >= 0 } == true)
        let templatesBefore = try #require(scrape.value("sv2_pool_templates_received_total", A))
        let jobsBefore = scrape.value("sv2_pool_jobs_sent_total", A) ?? 0

        // A Noise miner: connections, channels, handshakes, setups move.
        let miner = TestMinerState(extended: false)
        let client = try runner.sync {
            let client = try TestMinerClient(
                configuration: Sv2ClientConfiguration(
                    serverAddress: a.localAddress!, sv2Protocol: .mining, security: .noise(authority: authority.publicKey)),
                eventLoop: runner.loop, mining: TestMiner(state: miner),
                jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            client.connect()
            return client
        }
        #expect(try runner.wait { miner.activeJobID != nil })
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_connections", A) == 1 }
        #expect(scrape.value("sv2_pool_channels", A) == 1)
        #expect(scrape.value("sv2_server_connections_active", A) == 1)
        #expect(scrape.value("sv2_server_connections_opened_total", A) == 1)
        #expect(scrape.value("sv2_server_handshakes_total", A) == 1)
        #expect(scrape.value("sv2_server_setups_accepted_total", A) == 1)
        #expect(scrape.value("sv2_server_frames_in_total", A).map { $0 >= 2 } == true)
        #expect(scrape.value("sv2_pool_jobs_sent_total", A).map { $0 > jobsBefore } == true)

        // The ledger's writer is held: window 1 goes to it (queue full at 1), window 2 cannot → backlog.
        store.close()
        try runner.sync { try client.send(try Self.ordinaryShare(miner).standard) }
        #expect(try runner.wait { a.pool.statistics.accountingWindows == 1 })
        try runner.sync { try client.send(try Self.ordinaryShare(miner).standard) }
        #expect(try runner.wait { a.pool.accountingBacklog })
        // Reading from the miner is paused: this share waits in its socket until the ledger catches up.
        try runner.sync { try client.send(try Self.ordinaryShare(miner).standard) }
        scrape = try TestMetrics.scrape(port: port) {
            ($0.value("sv2_pool_accounting_lag_seconds", A) ?? 0) > 0 && $0.value("sv2_pool_shares_accepted_total", A) == 2
        }
        #expect(scrape.value("sv2_pool_accounting_backlogs_total", A) == 1)
        #expect(scrape.value("sv2_pool_shares_rejected_total", A.merging(["reason": "stale-share"]) { $1 }) == 0)
        #expect(runner.inspect { miner.errors.isEmpty })
        #expect(scrape.value("sv2_pool_difficulty_accepted_total", A).map { $0 > 0 } == true)
        #expect(scrape.value("sv2_pool_accounting_queue_depth", A) == 1)
        #expect(scrape.value("sv2_pool_accounting_uncommitted_windows", A) == 1)
        #expect(scrape.value("sv2_pool_accounting_commits_total", A) == 0)
        #expect(scrape.value("sv2_pool_acks_sent_total", A) == 0)

        // The first commit attempt fails, the retry succeeds: the windows commit, reading resumes, and all three
        // shares are acknowledged.
        store.failNext(1)
        store.reopen()
        #expect(try runner.wait { miner.acknowledged == 3 })
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_accounting_commits_total", A) == 3 }
        #expect(scrape.value("sv2_pool_accounting_failed_commits_total", A) == 1)
        #expect(scrape.value("sv2_pool_accounting_queue_depth", A) == 0)
        #expect(scrape.value("sv2_pool_accounting_lag_seconds", A) == 0)
        #expect(scrape.value("sv2_pool_accounting_uncommitted_windows", A) == 0)
        #expect(scrape.value("sv2_pool_accounting_commit_latency_seconds", A).map { $0 > 0 } == true)
        // One ack per window, or fewer when a window was handed over before the previous one's commit reached the
        // loop (a channel's sealed acknowledgements merge; the miner got every share acknowledged either way).
        #expect(scrape.value("sv2_pool_acks_sent_total", A).map { $0 >= 1 && $0 <= 3 } == true)

        // A share on a job never issued: rejected by its reason.
        try runner.sync {
            try client.send(SubmitSharesStandard(
                channelID: miner.channelID!, sequenceNumber: 900, jobID: 0xdead, nonce: 0, ntime: miner.minNtime,
                version: 0))
        }
        scrape = try TestMetrics.scrape(port: port) {
            $0.value("sv2_pool_shares_rejected_total", A.merging(["reason": "invalid-job-id"]) { $1 }) == 1
        }
        #expect(scrape.value("sv2_pool_shares_rejected_total", A.merging(["reason": "invalid-job-id"]) { $1 }) == 1)

        // Two sibling blocks on one previous block: the first is taken (acknowledged), the second superseded;
        // the journal's disk is full, so each journal write fails (the blocks are still submitted).
        try runner.sync {
            let network = Target(compact: miner.nbits)!
            for _ in 0..<2 { try client.send(try #require(miner.findShare(meeting: network)).fields.standard) }
        }
        #expect(try runner.wait { a.pool.statistics.blocksAcknowledged == 1 && a.pool.statistics.blocksSuperseded == 1 })
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_blocks_superseded_total", A) == 1 }
        #expect(scrape.value("sv2_pool_blocks_found_total", A) == 2)
        #expect(scrape.value("sv2_pool_blocks_submitted_total", A) == 1)
        #expect(scrape.value("sv2_pool_blocks_acknowledged_total", A) == 1)
        #expect(scrape.value("sv2_pool_blocks_unsettled", A) == 0)
        #expect(scrape.value("sv2_pool_block_journal_failures_total", A).map { $0 >= 4 } == true)
        #expect(scrape.value("sv2_pool_templates_received_total", A).map { $0 > templatesBefore } == true)

        // A template source that refuses a submission: counted, the block stays pending (unsettled).
        try runner.sync {
            a.pool.onSolution = { (_: SubmitSolution) throws(Sv2ServiceError) in throw .notConnected }
            let network = Target(compact: miner.nbits)!
            try client.send(try #require(miner.findShare(meeting: network)).fields.standard)
        }
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_block_submission_failures_total", A) == 1 }
        #expect(scrape.value("sv2_pool_blocks_unsettled", A) == 1)
        #expect(scrape.value("sv2_pool_blocks_found_total", A) == 3)

        // A block whose template is gone (the failure path retention prevents; forced here): counted as failed.
        try runner.sync {
            a.pool.templates.removeAll()
            let network = Target(compact: miner.nbits)!
            try client.send(try #require(miner.findShare(meeting: network)).fields.standard)
        }
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_blocks_failed_total", A) == 1 }
        #expect(scrape.value("sv2_pool_blocks_failed_total", A) == 1)
        #expect(scrape.value("sv2_pool_blocks_found_total", A) == 4)

        // The template age grows between scrapes (no new template meanwhile).
        let age = try #require(scrape.value("sv2_pool_template_age_seconds", A))
        scrape = try TestMetrics.scrape(port: port) { ($0.value("sv2_pool_template_age_seconds", A) ?? 0) > age }
        #expect(try #require(scrape.value("sv2_pool_template_age_seconds", A)) > age)

        // Pool B: a connection that sends a Mining message before SetupConnection → an error of its kind.
        let bPort = try #require(runner.inspect { b.localAddress?.port })
        _ = try MetricsScrape.exchange(port: bPort, [0, 0, 0x1a, 0, 0, 0])
        scrape = try TestMetrics.scrape(port: port) { ($0.value("sv2_server_errors_by_kind_total", B) ?? 0) >= 1 }
        #expect(scrape.value("sv2_server_errors_total", B).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_server_errors_by_kind_total", A) == nil)
        // The pools never merge: B saw no share and has no connection, A's counts are A's alone.
        #expect(scrape.value("sv2_pool_shares_accepted_total", B) == 0)
        #expect(scrape.value("sv2_pool_connections", B) == 0)
        #expect(scrape.value("sv2_pool_shares_accepted_total", A).map { $0 >= 5 } == true)
        #expect(scrape.value("sv2_pool_template_source_up", B) == 1)

        // A's template source goes away: link state 0, one loss; B's stays up.
        try runner.sync { a.templateProviderServer?.stop() }
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_pool_template_source_up", A) == 0 }
        #expect(scrape.value("sv2_pool_template_source_losses_total", A).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_pool_template_source_up", B) == 1)
        #expect(runner.inspect { http.scrapes } >= 8)
        _ = client
    }

    @Test func templateProviderSeriesMove() throws {
        let registry = TestMetrics.registry  // bootstrapped before any series is created
        let name = TestMetrics.uniqueName("tp")
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let (provider, http) = try runner.sync { () -> (TemplateProviderService, MetricsHTTPServer) in
            var server = Sv2ServerConfiguration(listenAddress: loopbackAddress)
            server.metricsName = name
            let provider = try TemplateProviderService(
                provider: .init(source: .init(nbits: 0x207f_ffff), refreshInterval: nil), server: server,
                eventLoop: runner.loop)
            try provider.start()
            let exporter = TemplateProviderMetrics(service: provider)
            let http = MetricsHTTPServer(registry: registry, eventLoop: runner.loop)
            http.addRefresher { exporter.export() }
            try http.start(on: loopbackAddress)
            return (provider, http)
        }
        let port = try #require(runner.inspect { http.localAddress?.port })
        let T = ["server": name]
        var scrape = try TestMetrics.scrape(port: port)
        #expect(scrape.value("sv2_template_provider_connections", T) == 0)
        #expect(scrape.value("sv2_template_provider_blocks_accepted_total", T) == 0)
        let height = try #require(scrape.value("sv2_template_provider_height", T))

        // A pool on it (remote template source) and a miner whose share is a block.
        let pool = try runner.sync { () -> PoolService in
            let pool = try PoolService(
                configuration: PoolServiceTests.configuration {
                    $0.minimumDifficulty = 2.5e-10
                    $0.maximumDifficulty = 2.5e-10
                },
                server: Sv2ServerConfiguration(listenAddress: loopbackAddress),
                templateSource: .remote(address: provider.localAddress!, security: .plain), eventLoop: runner.loop)
            try pool.start()
            return pool
        }
        #expect(try runner.wait { pool.pool.chainTip != nil })
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: pool, state: miner)
        try runner.sync {
            let network = Target(compact: miner.nbits)!
            try client.send(try #require(miner.findShare(meeting: network)).fields.standard)
        }
        #expect(try runner.wait { provider.state.acceptedBlocks.count == 1 })
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_template_provider_blocks_accepted_total", T) == 1 }
        #expect(scrape.value("sv2_template_provider_height", T) == height + 1)
        #expect(scrape.value("sv2_template_provider_connections", T) == 1)
        #expect(scrape.value("sv2_template_provider_solutions_rejected_total", T) == 0)
        #expect(scrape.value("sv2_server_setups_accepted_total", T) == 1)
        #expect(scrape.value("sv2_server_frames_in_total", T).map { $0 >= 2 } == true)
        // A solution for a template the provider never made is refused and counted.
        try runner.sync {
            let templateClient = try #require(pool.templateClient)
            try templateClient.send(SubmitSolution(
                templateID: 0xdead_beef, version: 0x2000_0000, headerTimestamp: 0, headerNonce: 0, coinbaseTx: [0x01]))
        }
        #expect(try runner.wait { provider.state.rejectedSolutions == 1 })
        scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_template_provider_solutions_rejected_total", T) == 1 }
        #expect(scrape.value("sv2_template_provider_solutions_rejected_total", T) == 1)
        try runner.sync {
            http.stop()
            pool.stop()
            provider.stop()
        }
        _ = client
    }

    @Test func theResponderAnswersOnlyGETMetrics() throws {
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let http = try runner.sync { () -> MetricsHTTPServer in
            let http = MetricsHTTPServer(registry: TestMetrics.registry, eventLoop: runner.loop)
            try http.start(on: loopbackAddress)
            return http
        }
        let port = try #require(runner.inspect { http.localAddress?.port })
        #expect(try MetricsScrape.get(port: port).status == 200)
        #expect(try MetricsScrape.get(port: port, path: "/metrics?x=1").status == 200)
        #expect(try MetricsScrape.get(port: port, path: "/").status == 404)
        #expect(try MetricsScrape.get(port: port, request: "POST /metrics HTTP/1.1\r\n\r\n").status == 405)
        #expect(try MetricsScrape.get(port: port, request: "hello\r\n\r\n").status == 400)
        let huge = "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 10_000) + "\r\n\r\n"
        #expect(try MetricsScrape.get(port: port, request: huge).status == 431)
        #expect(runner.inspect { http.scrapes == 2 && http.badRequests == 4 })
    }

    @Test func aSilentConnectionIsClosedAndDoesNotBlockScrapes() throws {
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let http = try runner.sync { () -> MetricsHTTPServer in
            let http = MetricsHTTPServer(
                registry: TestMetrics.registry, eventLoop: runner.loop, connectionLifetime: .milliseconds(300))
            try http.start(on: loopbackAddress)
            return http
        }
        let port = try #require(runner.inspect { http.localAddress?.port })
        // A client that connects and never sends: scrapes still work meanwhile, and the server closes it.
        let silent = try TCPTestClient(port: port)
        #expect(try MetricsScrape.get(port: port).status == 200)
        #expect(silent.waitForClose(timeout: 20))
        #expect(try runner.wait { http.openConnections == 0 })
    }

    @Test func proxySeriesMove() throws {
        let registry = TestMetrics.registry  // bootstrapped before any series is created
        let name = TestMetrics.uniqueName("proxy")
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        // The upstream pool's share target is almost every hash, so every few downstream shares one goes up.
        let service = try startPool(runner, configuration: PoolServiceTests.configuration {
            $0.minimumDifficulty = 2.5e-10
            $0.maximumDifficulty = 2.5e-10
        })
        let (proxy, http) = try runner.sync { () -> (ProxyAggregator, MetricsHTTPServer) in
            var downstream = Sv2ServerConfiguration(listenAddress: loopbackAddress)
            downstream.metricsName = name
            var configuration = ProxyConfiguration(
                downstream: downstream,
                upstream: Sv2ClientConfiguration(serverAddress: service.localAddress!, sv2Protocol: .mining, security: .plain),
                userIdentity: "proxy", nominalHashrate: 1_000)
            configuration.downstreamSharesPerMinute = 600
            let proxy = try ProxyAggregator.start(configuration: configuration, eventLoop: runner.loop)
            let exporter = ProxyMetrics(proxy: proxy, name: name)
            let http = MetricsHTTPServer(registry: registry, eventLoop: runner.loop)
            http.addRefresher { exporter.export() }
            try http.start(on: loopbackAddress)
            return (proxy, http)
        }
        let port = try #require(runner.inspect { http.localAddress?.port })
        let P = ["server": name]
        var scrape = try TestMetrics.scrape(port: port) { $0.value("sv2_proxy_upstream_up", P) == 1 }
        #expect(scrape.value("sv2_proxy_upstream_up", P) == 1)
        #expect(scrape.value("sv2_proxy_channels", P) == 0)

        let miner = TestMinerState(extended: false)
        let client = try runner.sync {
            let client = try TestMinerClient(
                configuration: Sv2ClientConfiguration(serverAddress: proxy.localAddress!, sv2Protocol: .mining, security: .plain),
                eventLoop: runner.loop, mining: TestMiner(state: miner),
                jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            client.connect()
            return client
        }
        #expect(try runner.wait { miner.activeJobID != nil })
        try runner.sync {
            for _ in 0..<5 { try client.send(try #require(miner.findShare()).fields.standard) }
            try client.send(SubmitSharesStandard(
                channelID: miner.channelID!, sequenceNumber: 900, jobID: 0xdead, nonce: 0, ntime: miner.minNtime,
                version: 0))
        }
        #expect(try runner.wait { miner.errors.count == 1 && proxy.statistics.upstreamAccepted >= 1 })
        scrape = try TestMetrics.scrape(port: port) { ($0.value("sv2_proxy_upstream_accepted_total", P) ?? 0) >= 1 }
        #expect(scrape.value("sv2_proxy_channels", P) == 1)
        #expect(scrape.value("sv2_proxy_connections", P) == 1)
        #expect(scrape.value("sv2_proxy_shares_received_total", P) == 6)
        #expect(scrape.value("sv2_proxy_shares_forwarded_total", P).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_proxy_shares_rejected_total", P).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_proxy_jobs_received_total", P).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_proxy_jobs_sent_total", P).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_server_connections_active", P) == 1)
        _ = client
    }
}
