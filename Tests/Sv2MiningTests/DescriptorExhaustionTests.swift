import CUring
import Foundation
import Glibc
@testable import Reactor
import Sv2Codec
import Sv2Service
import Testing

/// The `sv2 pool` app as a child process limited to 256 descriptors (`ulimit -n 256`, soft and hard, so the app's own
/// raise to the hard limit changes nothing), with `--max-connections` above that: 300 connection attempts run it out
/// of descriptors. Accepting must pause (no busy loop, a bounded log) and resume once descriptors are free again.
@Suite("Descriptor exhaustion", .serialized)
struct DescriptorExhaustionTests {
    /// Busy CPU time (user + system) of process `pid` in seconds, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test(arguments: ReactorBackend.allCases)
    func acceptingPausesAndResumes(backend: ReactorBackend) throws {
        let journal = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-emfile-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: journal) }
        // Log lines go to stderr; with the descriptor limit they are in the captured output, so they can be counted.
        let pool = try PoolApp.start([
            "--max-connections", "1000", "--template-interval", "0", "--nbits", "1d00ffff", "--block-journal", journal,
            "--data-dir", journal,
        ], backend: backend, descriptorLimit: 256)
        let app = pool.process
        defer { app.kill() }
        let address = pool.address
        let linesBefore = app.output.count

        // 300 connections; the kernel completes them (backlog 4096) whether or not the pool can accept them.
        var sockets: [Int32] = []
        defer { for fd in sockets { Glibc.close(fd) } }
        for _ in 0..<300 {
            var fd: Int32 = -1
            let result = address.withSockAddr { cshims_connect($0, $1, &fd) }
            #expect(result == 0 || result == -EINPROGRESS)
            if fd >= 0 { sockets.append(fd) }
        }
        // The pool runs out of descriptors (EMFILE = 24) and says so.
        let exhausted = try app.waitForLine(containing: "accept failed", timeout: 30)
        #expect(exhausted?.contains("errno=24") == true, "\(exhausted ?? "no accept failure logged")")

        // While the 300 stay open: (nearly) no CPU — a loop re-arming the accept at once would burn a whole core.
        let pid = app.processIdentifier
        let cpuStart = try #require(Self.cpuSeconds(pid))
        let wallStart = Date()
        usleep(2_000_000)  // the measurement window, not a synchronisation
        let cpu = try #require(Self.cpuSeconds(pid)) - cpuStart
        let wall = Date().timeIntervalSince(wallStart)
        print("descriptor exhaustion (\(backend)): pool CPU \(String(format: "%.3f", cpu)) s over \(String(format: "%.2f", wall)) s")
        #expect(cpu < 0.3 * wall, "pool used \(cpu) s of CPU in \(wall) s while out of descriptors")
        // Bounded by the rate limits (reactor: 10 per 10 s; service: 20 per second, should handshake timeouts of the
        // accepted ones fall into the window on a slow machine), whatever the kernel's pace: without them, ~60,000.
        let floodLines = app.output.count - linesBefore
        #expect(floodLines < 100, "\(floodLines) log lines during the shortage")

        // Descriptors come back: accepting resumes and an honest miner is served.
        for fd in sockets { Glibc.close(fd) }
        sockets.removeAll()
        let runner = try LoopRunner(backend)
        defer { _ = runner.stop() }
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: address, state: miner, waitForJob: false)
        #expect(try runner.wait(timeout: 30) { miner.activeJobID != nil }, "honest miner not served after the shortage")
        try runner.sync { client.close() }
        #expect(app.output.count - linesBefore < 300, "\(app.output.count - linesBefore) log lines in total")
    }
}
