import Foundation
import Glibc
import Testing
@testable import Reactor

/// A burst of connections that piled up while the loop was busy: every one is accepted, a wait reports at most
/// `UringBackend.acceptsPerWait` of them, and an established connection's bytes that arrived in the same wait are
/// handled before those accepts (io_uring's multishot accept drains the whole backlog at once; epoll's accept loop is
/// bounded the same way).
@Suite(.timeLimit(.minutes(1)))
struct AcceptBurstTests {
    /// What the loop handled, in order (loop thread only).
    final class Log {
        var entries: [String] = []
        var accepts: Int { entries.count { $0 == "accept" } }
    }

    final class RecordingHandler: ConnectionHandler {
        let log: Log
        init(log: Log) { self.log = log }
        func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
            log.entries.append("read")
            return bytes.count
        }
        func connection(_ connection: Connection, didCloseWith reason: CloseReason) {}
    }

    @Test(arguments: backends)
    func burstIsAcceptedInBoundedBatchesAfterReads(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let log = Log()
        nonisolated(unsafe) let unsafeLog = log
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { _ in
                unsafeLog.entries.append("accept")
                return RecordingHandler(log: unsafeLog)
            }
        }
        let established = try BlockingSocket(connectingTo: listener.localAddress)
        defer { established.close() }
        #expect(try runner.wait(timeout: 10) { unsafeLog.accepts == 1 })
        let burst = 300
        var sockets: [BlockingSocket] = []
        defer { for socket in sockets { socket.close() } }
        let before = try runner.sync { runner.loop.backendCounters }
        // While the loop is parked the kernel completes the handshakes: the backlog and the bytes wait for one wake.
        try runner.inspect {
            for _ in 0..<burst { sockets.append(try BlockingSocket(connectingTo: listener.localAddress)) }
            try established.send([1, 2, 3])
        }
        #expect(try runner.wait(timeout: 20) { unsafeLog.accepts == burst + 1 && unsafeLog.entries.contains("read") })
        let (entries, after) = try runner.sync { (unsafeLog.entries, runner.loop.backendCounters) }
        let read = try #require(entries.firstIndex(of: "read"))
        // Entry 0 is the established connection's accept; the read comes before the burst's 65th accept.
        #expect(read <= 1 + UringBackend.acceptsPerWait, "read handled at \(read): \(entries.prefix(read + 1).count - 2) accepts first")
        #expect(after.accepts - before.accepts == UInt64(burst))
        if backend == .ioUring {
            #expect(after.acceptsHeld > before.acceptsHeld, "\(after)")
            #expect(after.acceptsAheadOfReads == before.acceptsAheadOfReads, "\(after)")
        }
    }

    /// Past `heldAcceptLimit` held accepts the multishot accept is cancelled (new connections wait in the kernel's
    /// backlog) and re-armed once the held ones were reported; nothing is lost either way.
    @Test func uringThrottlesAndRearmsPastTheHeldLimit() throws {
        let runner = try LoopRunner(.ioUring)
        defer { runner.stop() }
        nonisolated(unsafe) let log = Log()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { _ in
                log.entries.append("accept")
                return RecordingHandler(log: log)
            }
        }
        let burst = UringBackend.heldAcceptLimit + 100
        var sockets: [BlockingSocket] = []
        defer { for socket in sockets { socket.close() } }
        try runner.inspect {
            for _ in 0..<burst { sockets.append(try BlockingSocket(connectingTo: listener.localAddress)) }
        }
        #expect(try runner.wait(timeout: 20) { log.accepts == burst })
        // Connections made after the throttle are accepted too (the accept was re-armed).
        let late = try BlockingSocket(connectingTo: listener.localAddress)
        defer { late.close() }
        #expect(try runner.wait(timeout: 10) { log.accepts == burst + 1 })
        let counters = try runner.sync { runner.loop.backendCounters }
        #expect(counters.acceptRearms >= 1, "\(counters)")
        #expect(counters.accepts == UInt64(burst + 1))
    }
}
