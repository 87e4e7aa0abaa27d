import Foundation
import Glibc
import Reactor
import Sv2Accounting
import Sv2Codec
import Sv2Service
import Testing

/// The `sv2 pool` app with its SQLite ledger, killed with SIGKILL: every share it acknowledged is in the database
/// ("acknowledged means durable").
@Suite("sv2 pool accounting (child process)", .serialized)
struct PoolAppAccountingTests {
    static let difficulty = 1e-9

    struct Running {
        let app: AppProcess
        let runner: LoopRunner
        let miner: TestMinerState
        let client: TestMinerClient
        let database: String
    }

    /// Starts `sv2 pool` with its ledger in `directory` (SQLite; with `postgres`, the same file replicated there)
    /// and connects one test miner.
    static func start(
        _ directory: String, postgres: String? = nil, node: String = "kill-test", extra: [String] = []
    ) throws -> Running {
        let database = "\(directory)/accounting.sqlite"
        let accounting = postgres.map { ["--accounting", $0, "--accounting-file", database] }
            ?? ["--accounting", "sqlite:\(database)"]
        let pool = try PoolApp.start([
            "--ack-batch-size", "4", "--ack-interval", "0.02", "--min-difficulty", "\(difficulty)",
            "--max-difficulty", "\(difficulty)", "--nbits", "1d00ffff", "--template-interval", "0",
            "--block-journal", "\(directory)/blocks", "--node-id", node,
        ] + accounting + extra)
        #expect(pool.process.output.contains { $0.hasPrefix("accounting: ") && $0.contains("sqlite:\(database)") })
        let runner = try LoopRunner(.epoll)
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: pool.address, state: miner, timeout: 30)
        return Running(app: pool.process, runner: runner, miner: miner, client: client, database: database)
    }

    static func send(_ count: Int, _ running: Running) throws {
        try running.runner.sync {
            for _ in 0..<count {
                let share = try #require(running.miner.findShare())
                try running.client.send(share.fields.standard)
            }
        }
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sv2-kill-\(UInt64.random(in: 0...UInt64.max))").path
    }

    @Test func sigkillUnderLoadLosesNoAcknowledgedShare() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try Self.start(directory)
        defer { running.app.kill(); _ = running.runner.stop() }
        let miner = running.miner

        // Keep ~200 shares in flight until 2,000 are acknowledged, then SIGKILL with shares still flowing.
        var sent = 0
        while running.runner.inspect({ miner.acknowledged }) < 2_000 {
            let outstanding = sent - Int(running.runner.inspect { miner.acknowledged })
            if outstanding < 200 {
                try Self.send(50, running)
                sent += 50
            } else {
                let before = running.runner.inspect { miner.acknowledged }
                #expect(try running.runner.wait(timeout: 30) { miner.acknowledged > before || miner.closeReason != nil })
                try #require(running.runner.inspect { miner.closeReason == nil })
            }
        }
        try Self.send(100, running)
        sent += 100
        running.app.signal(SIGKILL)
        #expect(running.app.waitForExit(timeout: 30) != nil)
        #expect(try running.runner.wait(timeout: 30) { miner.closeReason != nil })

        let (acknowledged, ackedCredit, errors) = running.runner.inspect {
            (UInt64(miner.acknowledged), miner.acks.reduce(UInt64(0)) { $0 + $1.newSharesSum }, miner.errors.count)
        }
        #expect(errors == 0)
        let totals = try LedgerReader(path: running.database).summary()
        let stored = try #require(totals.first { $0.user == "tester.std" })
        print("kill -9 under load: sent \(sent), acknowledged \(acknowledged), stored \(stored.accepted)")
        // Every acknowledged share is stored; what is stored beyond that was committed while its ack was in flight.
        #expect(stored.accepted >= acknowledged && stored.accepted <= UInt64(sent))
        #expect(stored.credit >= ackedCredit)
        #expect(stored.difficulty >= Double(acknowledged) * Self.difficulty * (1 - 1e-9))
        #expect(abs(stored.difficulty - Double(stored.accepted) * Self.difficulty) <= 1e-6 * Self.difficulty * Double(stored.accepted))
    }

    @Test func sigkillAfterEveryShareWasAcknowledgedLeavesExactlyTheClientsTotals() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try Self.start(directory)
        defer { running.app.kill(); _ = running.runner.stop() }
        let miner = running.miner
        try Self.send(777, running)
        #expect(try running.runner.wait(timeout: 60) { miner.acknowledged == 777 })
        running.app.signal(SIGKILL)
        #expect(running.app.waitForExit(timeout: 30) != nil)

        let ackedCredit = running.runner.inspect { miner.acks.reduce(UInt64(0)) { $0 + $1.newSharesSum } }
        let stored = try #require(try LedgerReader(path: running.database).summary().first { $0.user == "tester.std" })
        #expect(stored.accepted == 777 && stored.credit == ackedCredit)
        #expect(abs(stored.difficulty - 777 * Self.difficulty) <= 1e-6 * Self.difficulty)

        // The report commands read the same numbers.
        let summary = try Self.json(["accounting", "summary", "--accounting", "sqlite:\(running.database)", "--json"])
        let users = try #require(summary["users"] as? [[String: Any]])
        #expect(users.count == 1 && users.first?["user"] as? String == "tester.std")
        #expect((users.first?["accepted"] as? NSNumber)?.uint64Value == 777)
        #expect((users.first?["credit"] as? NSNumber)?.uint64Value == ackedCredit)
        let future = try Self.json([
            "accounting", "summary", "--accounting", running.database, "--since", "\(Int(Date().timeIntervalSince1970) + 3600)", "--json",
        ])
        #expect((future["users"] as? [Any])?.isEmpty == true)
        // PPLNS over half the stored difficulty: all of it to the one user.
        let pplns = try Self.json([
            "accounting", "pplns", "--accounting", "sqlite:\(running.database)", "--window", "\(stored.difficulty / 2)", "--json",
        ])
        #expect(abs(((pplns["covered"] as? NSNumber)?.doubleValue ?? 0) - stored.difficulty / 2) <= 1e-9 * stored.difficulty)
        let shares = try #require(pplns["shares"] as? [[String: Any]])
        #expect(shares.count == 1 && (shares.first?["fraction"] as? NSNumber)?.doubleValue == 1)
    }

    /// Runs `sv2 <arguments>` to completion and parses its one line of JSON output.
    static func json(_ arguments: [String]) throws -> [String: Any] {
        let process = try AppProcess(try AppProcess.sv2Executable(), arguments)
        defer { process.kill() }
        #expect(process.waitForExit(timeout: 30) == 0)
        let line = try #require(try process.waitForLine(containing: "{", timeout: 10))
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func sv2PoolServesMetricsThatMove() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let poolApp = try PoolApp.start([
            "--ack-interval", "0.02", "--min-difficulty", "\(Self.difficulty)", "--max-difficulty", "\(Self.difficulty)",
            "--nbits", "1d00ffff", "--template-interval", "0", "--block-journal", "\(directory)/blocks",
            "--accounting", "sqlite:\(directory)/accounting.sqlite", "--metrics", "127.0.0.1:0",
        ])
        let app = poolApp.process
        defer { app.kill() }
        let metricsPort = try #require(try app.waitForPort(inLineContaining: "metrics on http://"))
        let pool = ["server": "pool"]
        var scrape = try TestMetrics.scrape(port: metricsPort) { $0.value("sv2_pool_template_source_up", pool) == 1 }
        #expect(scrape.value("sv2_pool_shares_accepted_total", pool) == 0)
        #expect(scrape.value("sv2_server_connections_active", ["server": "pool-template-provider"]) == 1)

        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: poolApp.address, state: miner, timeout: 30)
        try runner.sync {
            for _ in 0..<20 { try client.send(try #require(miner.findShare()).fields.standard) }
        }
        #expect(try runner.wait(timeout: 30) { miner.acknowledged == 20 })
        scrape = try TestMetrics.scrape(port: metricsPort) { $0.value("sv2_pool_shares_accepted_total", pool) == 20 }
        #expect(scrape.value("sv2_pool_connections", pool) == 1 && scrape.value("sv2_pool_channels", pool) == 1)
        #expect(scrape.value("sv2_pool_accounting_commits_total", pool).map { $0 >= 1 } == true)
        #expect(scrape.value("sv2_pool_difficulty_accepted_total", pool).map { abs($0 - 20 * Self.difficulty) < 1e-15 } == true)
        app.signal(SIGTERM)
        #expect(app.waitForExit(timeout: 30) == 0)
    }
}
