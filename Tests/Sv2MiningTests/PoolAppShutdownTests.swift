import Foundation
import Glibc
import Reactor
import Sv2Codec
import Sv2Service
import Testing

/// The `sv2 pool` app itself, as a child process: SIGTERM with acknowledgements pending sends them before it exits
/// (issue 12, item 9; with its SQLite ledger on, so the last window is committed first), and it prints where its
/// block journal is.
@Suite struct PoolAppShutdownTests {
    /// With one loop and with two (`--threads 2`: every loop flushes the acknowledgements of its own miners, each
    /// through its own port into the one ledger, before the process exits).
    @Test(arguments: [1, 2])
    func sigtermSendsPendingAcknowledgementsBeforeExiting(threads: Int) throws {
        let journalDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-shutdown-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        // Acknowledgements are batched by 1000 and the batch timer is an hour away: only the shutdown flushes them.
        let pool = try PoolApp.start([
            "--ack-batch-size", "1000", "--ack-interval", "3600", "--min-difficulty", "1e-9", "--max-difficulty", "1e-9",
            "--nbits", "1d00ffff", "--template-interval", "0", "--block-journal", journalDirectory,
            "--accounting", "sqlite:\(journalDirectory)/accounting.sqlite", "--threads", "\(threads)",
        ])
        let app = pool.process
        defer { app.kill() }
        #expect(app.output.contains { $0.hasPrefix("block journal: \(journalDirectory)/blocks.jsonl") })

        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        // Eight miners: with two loops the chance that all of them are on one loop is 2^-7.
        let miners = (0..<8).map { _ in TestMinerState(extended: false) }
        let clients = try miners.map { try connectMiner(runner, to: pool.address, state: $0, timeout: 30) }
        for (miner, client) in zip(miners, clients) { try runner.sync {
            for _ in 0..<5 {
                let share = try #require(miner.findShare())
                try client.send(share.fields.standard)
            }
            // An answer the pool sends at once: when it arrives, the five shares before it were processed.
            try client.send(SubmitSharesStandard(
                channelID: miner.channelID!, sequenceNumber: 99, jobID: 0xdead, nonce: 0, ntime: miner.minNtime,
                version: 0))
        } }
        #expect(try runner.wait(timeout: 30) { miners.allSatisfy { $0.errors.count == 1 } })
        #expect(runner.inspect { miners.map(\.acknowledged) } == Array(repeating: 0, count: 8))

        app.signal(SIGTERM)
        #expect(try runner.wait(timeout: 30) { miners.allSatisfy { $0.acknowledged == 5 } })
        let status = app.waitForExit(timeout: 30)
        #expect(status == 0)
    }
}
