import AccountingTestSupport
import Foundation
import Glibc
import Sv2Accounting
import Testing

/// `sv2 pool --accounting postgres://…` against a real PostgreSQL server (`scripts/with-postgres.sh`; CI runs the
/// tests under it): an outage under load loses nothing, and two pools on one database add up.
@Suite(
    "sv2 pool with PostgreSQL (child processes)", .serialized,
    .enabled(if: PostgresTestServer.isConfigured, "SV2_TEST_POSTGRES_URL unset (run under scripts/with-postgres.sh)"))
struct PoolAppPostgresTests {
    typealias App = PoolAppAccountingTests

    static func acknowledged(_ running: App.Running) -> (count: UInt64, credit: UInt64) {
        running.runner.inspect {
            (UInt64(running.miner.acknowledged), running.miner.acks.reduce(UInt64(0)) { $0 + $1.newSharesSum })
        }
    }

    @Test func anOutageUnderLoadLosesNothingOnceTheServerIsBack() throws {
        let directory = App.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = PostgresTestServer.uniqueNode("outage")
        let forwarder = try TCPForwarder(target: try PostgresTestServer.port())
        defer { forwarder.stop() }
        let running = try App.start(
            directory, postgres: try PostgresTestServer.url(throughPort: forwarder.port), node: node,
            extra: ["--metrics", "127.0.0.1:0"])
        defer { running.app.kill(); _ = running.runner.stop() }
        let metricsPort = try #require(try running.app.waitForPort(inLineContaining: "metrics on http://"))
        let pool = ["server": "pool"]
        let reader = try PostgresLedgerReader(url: try #require(PostgresTestServer.url))
        let miner = running.miner

        try App.send(300, running)
        #expect(try running.runner.wait(timeout: 60) { miner.acknowledged == 300 })
        #expect(waitFor(timeout: 60) { (try? reader.summary(node: node).first?.accepted) == 300 })

        // PostgreSQL away: the pool keeps accepting and acknowledging (its SQLite file is the truth) ...
        forwarder.takeDown()
        for _ in 0..<5 {
            try App.send(100, running)
            let target = running.runner.inspect { miner.nextSequence }
            #expect(try running.runner.wait(timeout: 60) { miner.acknowledged == target })
        }
        let (count, credit) = Self.acknowledged(running)
        #expect(count == 800 && running.runner.inspect { miner.errors.isEmpty })
        // ... PostgreSQL has only what it had, and the pool's metrics say replication is failing and behind ...
        #expect(try reader.summary(node: node).first?.accepted == 300)
        var scrape = try TestMetrics.scrape(port: metricsPort, timeout: 60) {
            ($0.value("sv2_pool_accounting_replication_failures_total", pool) ?? 0) >= 1
                && ($0.value("sv2_pool_accounting_replication_lag_seconds", pool) ?? 0) > 0
        }
        #expect((scrape.value("sv2_pool_accounting_replication_lag_seconds", pool) ?? 0) > 0)
        let copiedBefore = try #require(scrape.value("sv2_pool_accounting_replicated_windows_total", pool))

        // ... and gets all of it once it is back.
        forwarder.bringUp()
        #expect(waitFor(timeout: 60) { (try? reader.summary(node: node).first?.accepted) == 800 })
        let totals = try #require(try reader.summary(node: node).first)
        #expect(totals.user == "tester.std" && totals.credit == credit)
        #expect(abs(totals.difficulty - 800 * App.difficulty) <= 1e-6 * App.difficulty)
        scrape = try TestMetrics.scrape(port: metricsPort, timeout: 60) {
            $0.value("sv2_pool_accounting_replication_lag_seconds", pool) == 0
        }
        #expect(scrape.value("sv2_pool_accounting_replication_lag_seconds", pool) == 0)
        #expect(scrape.value("sv2_pool_accounting_replicated_windows_total", pool).map { $0 > copiedBefore } == true)
    }

    @Test func twoPoolsOnOneDatabaseAddUp() throws {
        let url = try #require(PostgresTestServer.url)
        let (nodeA, nodeB) = (PostgresTestServer.uniqueNode("twin-a"), PostgresTestServer.uniqueNode("twin-b"))
        let (directoryA, directoryB) = (App.temporaryDirectory(), App.temporaryDirectory())
        defer {
            try? FileManager.default.removeItem(atPath: directoryA)
            try? FileManager.default.removeItem(atPath: directoryB)
        }
        let a = try App.start(directoryA, postgres: url, node: nodeA)
        defer { a.app.kill(); _ = a.runner.stop() }
        let b = try App.start(directoryB, postgres: url, node: nodeB)
        defer { b.app.kill(); _ = b.runner.stop() }
        try App.send(400, a)
        try App.send(250, b)
        #expect(try a.runner.wait(timeout: 60) { a.miner.acknowledged == 400 })
        #expect(try b.runner.wait(timeout: 60) { b.miner.acknowledged == 250 })
        let (creditA, creditB) = (Self.acknowledged(a).credit, Self.acknowledged(b).credit)

        let reader = try PostgresLedgerReader(url: url)
        #expect(waitFor(timeout: 60) {
            (try? reader.summary(node: nodeA).first?.accepted) == 400 && (try? reader.summary(node: nodeB).first?.accepted) == 250
        })
        // Both nodes' rows are in one table: per node and together, equal to what their clients were acknowledged.
        #expect(try reader.summary(node: nodeA).first?.credit == creditA)
        #expect(try reader.summary(node: nodeB).first?.credit == creditB)
        let nodes = try reader.nodes()
        #expect(nodes[nodeA] != nil && nodes[nodeB] != nil)
        let sum = try [nodeA, nodeB].map { try reader.summary(node: $0).first?.accepted ?? 0 }.reduce(0, +)
        #expect(sum == 650)
    }
}
