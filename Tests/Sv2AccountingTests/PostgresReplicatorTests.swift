import AccountingTestSupport
import Foundation
import Sv2Accounting
import Sv2Pool
import Testing

/// Replication of a node's SQLite ledger to a real PostgreSQL server (`scripts/with-postgres.sh`).
@Suite(
    "PostgreSQL replication", .serialized,
    .enabled(if: PostgresTestServer.isConfigured, "SV2_TEST_POSTGRES_URL unset (run under scripts/with-postgres.sh)"))
struct PostgresReplicatorTests {
    static func window(_ sequence: UInt64, _ rows: [ShareWindowRow], blocks: [ShareWindowBlock] = []) -> ShareWindow {
        ShareWindow(sequence: sequence, endMilliseconds: 1_000 * sequence, rows: rows, blocks: blocks)
    }

    @Test func everyRowArrivesOnceAndAnOutageLosesNothing() throws {
        let (path, cleanUp) = temporaryLedgerPath("replica")
        defer { cleanUp() }
        let node = PostgresTestServer.uniqueNode("replica")
        let store = try SQLiteLedgerStore(path: path, node: node)
        let forwarder = try TCPForwarder(target: try PostgresTestServer.port())
        defer { forwarder.stop() }
        let replicator = PostgresReplicator(
            sqlitePath: path, node: node, url: try PostgresTestServer.url(throughPort: forwarder.port),
            interval: .milliseconds(20))
        let reader = try PostgresLedgerReader(url: try #require(PostgresTestServer.url))

        try store.commit([
            Self.window(1, [row("alice", channel: 1, accepted: 3, difficulty: 3.5, rejected: ["stale-share": 1])],
                        blocks: [ShareWindowBlock(hash: "00ff", state: "found", time: 10, height: 5, userIdentity: "alice",
                                                  channelID: 1, reward: 625_000_000)]),
            Self.window(2, [row("bob", channel: 2, accepted: 2, difficulty: 2)]),
        ][...])
        replicator.start()
        defer { replicator.stop() }
        #expect(waitFor { (try? reader.summary(node: node).map(\.accepted)) == [3, 2] })

        // PostgreSQL goes away; the node goes on recording (its SQLite file is the truth) ...
        forwarder.takeDown()
        for sequence in UInt64(3)...40 {
            try store.commit([Self.window(sequence, [row("alice", channel: 1, accepted: 1, difficulty: 0.5)])][...])
        }
        try store.commit([Self.window(41, [], blocks: [ShareWindowBlock(hash: "00ff", state: "acknowledged", time: 20)])][...])
        #expect(waitFor { replicator.statistics.failedPasses >= 2 })
        #expect(try reader.summary(node: node).first { $0.user == "alice" }?.accepted == 3)

        // ... and when it is back, everything arrives, exactly once.
        forwarder.bringUp()
        #expect(waitFor { (try? reader.summary(node: node).first { $0.user == "alice" }?.accepted) == 41 })
        let totals = try reader.summary(node: node)
        let local = try LedgerReader(path: path).summary()
        #expect(totals == local)
        #expect(totals.first { $0.user == "alice" }?.difficulty == 3.5 + 38 * 0.5)
        #expect(totals.first { $0.user == "alice" }?.blocks == 1 && totals.first { $0.user == "alice" }?.reward == 625_000_000)
        // PPLNS over PostgreSQL (this node's rows) splits like the node's own file.
        #expect(try reader.pplns(window: 10, node: node) == LedgerReader(path: path).pplns(window: 10))
        #expect(try reader.pplns(window: 1e9, node: node).covered == 24.5)
        // The mark is the newest window with rows (window 41 only moved the block).
        #expect(try reader.nodes()[node] == 40_000)
    }
}

/// Opt-in measurement (`SV2_MEASURE_POSTGRES=1` under scripts/with-postgres.sh): how fast the replicator copies
/// window rows into PostgreSQL through libpq (Docs/Performance.md).
@Suite(
    "PostgreSQL replication throughput",
    .enabled(if: PostgresTestServer.isConfigured && ProcessInfo.processInfo.environment["SV2_MEASURE_POSTGRES"] == "1"))
struct PostgresReplicationThroughput {
    @Test func hundredThousandRows() throws {
        let (path, cleanUp) = temporaryLedgerPath("throughput")
        defer { cleanUp() }
        let node = PostgresTestServer.uniqueNode("throughput")
        let store = try SQLiteLedgerStore(path: path, node: node)
        let rows = (0..<50).map { row("user\($0 % 10).rig\($0)", channel: UInt32($0), accepted: 8, difficulty: 8.5) }
        for start in stride(from: UInt64(1), through: 2000, by: 100) {
            try store.commit((start..<start + 100).map { ShareWindow(sequence: $0, endMilliseconds: $0, rows: rows, blocks: []) }[...])
        }
        let replicator = PostgresReplicator(
            sqlitePath: path, node: node, url: try #require(PostgresTestServer.url), interval: .milliseconds(5))
        let reader = try PostgresLedgerReader(url: try #require(PostgresTestServer.url))
        let started = ContinuousClock.now
        replicator.start()
        defer { replicator.stop() }
        #expect(waitFor(timeout: 120) { (try? reader.nodes()[node]) == 2000 })
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("PostgreSQL replication (libpq, multi-row upserts): 100000 rows in \(seconds) s = \(Int(100_000 / seconds)) rows/s")
        #expect(try reader.summary(node: node).reduce(0) { $0 + $1.accepted } == 800_000)
    }
}
