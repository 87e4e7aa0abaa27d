import Foundation
import Glibc
import Reactor
import Sv2Accounting
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining

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

    static func start(_ directory: String) throws -> Running {
        let database = "\(directory)/accounting.sqlite"
        let app = try AppProcess(try PoolAppShutdownTests.sv2Executable(), [
            "pool", "--listen", "127.0.0.1:0", "--no-noise", "--ack-batch-size", "4", "--ack-interval", "0.02",
            "--min-difficulty", "\(difficulty)", "--max-difficulty", "\(difficulty)", "--nbits", "1d00ffff",
            "--template-interval", "0", "--block-journal", "\(directory)/blocks", "--accounting", "sqlite:\(database)",
            "--node-id", "kill-test", "--log-level", "warning", "--backend", "epoll",
        ])
        let listening = try #require(try app.waitForLine(containing: "pool listening on"))
        let port = try #require(listening.split(separator: ":").last.flatMap { UInt16($0.prefix { $0.isNumber }) })
        #expect(app.output.contains("accounting: sqlite:\(database)"))
        let runner = try LoopRunner(.epoll)
        let miner = TestMinerState(extended: false)
        let client = try runner.sync {
            let client = try TestMinerClient(
                configuration: Sv2ClientConfiguration(
                    serverAddress: try SocketAddress(ip: "127.0.0.1", port: port), sv2Protocol: .mining,
                    security: .plain),
                eventLoop: runner.loop, mining: TestMiner(state: miner),
                jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            client.connect()
            return client
        }
        #expect(try runner.wait(timeout: 30) { miner.activeJobID != nil })
        return Running(app: app, runner: runner, miner: miner, client: client, database: database)
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
    }
}
