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
    /// The `sv2` executable built beside this test bundle (`swift build --build-tests` / `swift test` build it).
    static func sv2Executable() throws -> String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("sv2").path }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw AppProcessError.executableMissing(candidates)
        }
        return path
    }

    /// With one loop and with two (`--threads 2`: every loop flushes the acknowledgements of its own miners, each
    /// through its own port into the one ledger, before the process exits).
    @Test(arguments: [1, 2])
    func sigtermSendsPendingAcknowledgementsBeforeExiting(threads: Int) throws {
        let journalDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-shutdown-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: journalDirectory) }
        // Acknowledgements are batched by 1000 and the batch timer is an hour away: only the shutdown flushes them.
        let app = try AppProcess(try Self.sv2Executable(), [
            "pool", "--listen", "127.0.0.1:0", "--no-noise", "--ack-batch-size", "1000", "--ack-interval", "3600",
            "--min-difficulty", "1e-9", "--max-difficulty", "1e-9", "--nbits", "1d00ffff", "--template-interval", "0",
            "--block-journal", journalDirectory, "--accounting", "sqlite:\(journalDirectory)/accounting.sqlite",
            "--log-level", "warning", "--backend", "epoll", "--threads", "\(threads)",
        ])
        defer { app.kill() }
        let listening = try #require(try app.waitForLine(containing: "pool listening on"))
        let port = try #require(listening.split(separator: ":").last.flatMap { UInt16($0.prefix { $0.isNumber }) })
        #expect(app.output.contains { $0.hasPrefix("block journal: \(journalDirectory)/blocks.jsonl") })

        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        // Eight miners: with two loops the chance that all of them are on one loop is 2^-7.
        let miners = (0..<8).map { _ in TestMinerState(extended: false) }
        let clients = try miners.map { miner in try runner.sync {
            let client = try TestMinerClient(
                configuration: Sv2ClientConfiguration(
                    serverAddress: try SocketAddress(ip: "127.0.0.1", port: port), sv2Protocol: .mining,
                    security: .plain),
                eventLoop: runner.loop, mining: TestMiner(state: miner),
                jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            client.connect()
            return client
        } }
        #expect(try runner.wait(timeout: 30) { miners.allSatisfy { $0.activeJobID != nil } })
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

enum AppProcessError: Error { case executableMissing([String]) }

/// A child process whose standard output is collected line by line on a background thread.
final class AppProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = ""

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.partial += String(decoding: data, as: UTF8.self)
            while let newline = self.partial.firstIndex(of: "\n") {
                self.lines.append(String(self.partial[..<newline]))
                self.partial = String(self.partial[self.partial.index(after: newline)...])
            }
            self.lock.unlock()
        }
        try process.run()
    }

    /// Every complete line printed so far.
    var output: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    /// Waits (bounded) for a line containing `text`; `nil` if the process exited or the time ran out first.
    func waitForLine(containing text: String, timeout: Double = 60) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = output.first(where: { $0.contains(text) }) { return line }
            if !process.isRunning { return nil }
            usleep(10_000)
        }
        return nil
    }

    func signal(_ number: Int32) { Glibc.kill(process.processIdentifier, number) }

    /// The child's process id.
    var processIdentifier: Int32 { process.processIdentifier }

    /// The exit status once the process ended within `timeout` seconds; `nil` if it is still running.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Kills the process if it still runs (test clean-up).
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
