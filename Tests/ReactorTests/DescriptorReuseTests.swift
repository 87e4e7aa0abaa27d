import CUring
import Dispatch
import Foundation
import Glibc
import Testing
@testable import Reactor

/// Echoes what it reads; closes after the echo when the first byte is odd (a server-side close racing the client's).
/// A first byte with bit 2 set asks for 80 KiB (past the flush threshold, so a send is prepared at once) and an abort
/// in the same callback: the prepared send must never reach whichever socket gets the descriptor number next.
private final class EchoThenMaybeClose: ConnectionHandler {
    static let burst = [UInt8](repeating: 0xEE, count: 80 << 10)

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard bytes.count >= 64 else { return 0 }
        if bytes[0] & 4 != 0 {
            Self.burst.withUnsafeBytes { _ = connection.write($0) }
            connection.abort()
            return bytes.count
        }
        connection.write(UnsafeRawBufferPointer(rebasing: bytes[0..<64]))
        if bytes[0] & 1 == 1 { connection.close() }
        return 64
    }
    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {}
}

/// Descriptor numbers are reused as fast as the kernel hands them out (client and server sockets live in this one
/// process): no completion of an old connection may ever act on a new one.
@Suite("Descriptor reuse", .serialized)
struct DescriptorReuseTests {
    /// 8,000 short connections from 4 threads at once (so sockets are created while the loop closes others: numbers
    /// are reused within microseconds): each gets exactly its own 64 bytes back, whoever closes first (server after
    /// its echo, client after reading it, the client with a reset, or the server aborting right after queueing an
    /// 80 KiB send), and the loop ends with no connection left.
    @Test(arguments: backends)
    func thousandsOfShortConnectionsNeverCrossTalk(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoThenMaybeClose() } }
        let address = listener.localAddress
        let failures = Box<[String]>([])
        let reused = Box(0)
        let lock = NSLock()
        let group = DispatchGroup()
        for thread in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                var seen = Set<Int32>()
                for index in 0..<2_000 {
                    if lock.withLock({ failures.value.count }) > 10 { return }
                    guard let client = try? BlockingSocket(connectingTo: address) else {
                        lock.withLock { failures.value.append("thread \(thread) #\(index): connect failed") }
                        continue
                    }
                    if !seen.insert(client.fd).inserted { lock.withLock { reused.value += 1 } }
                    let burst = index % 3 == 2
                    var message = pattern(64, seed: UInt8(truncatingIfNeeded: index &* 7 &+ thread))
                    message[0] = UInt8(index & 1) | (burst ? 4 : 0) | UInt8(truncatingIfNeeded: thread << 3)
                    message[1] = UInt8(truncatingIfNeeded: index)
                    message[2] = UInt8(truncatingIfNeeded: index >> 8)
                    do { try client.send(message) } catch {
                        lock.withLock { failures.value.append("thread \(thread) #\(index): send failed \(error)") }
                        client.close()
                        continue
                    }
                    if burst {
                        _ = client.receiveAll()  // the burst, cut short by the abort
                        client.close()
                        continue
                    }
                    let echo = client.receive(64)
                    if echo != message {
                        lock.withLock {
                            failures.value.append("thread \(thread) #\(index): \(echo.count) bytes, first \(echo.first.map { String($0, radix: 16) } ?? "-")")
                        }
                    }
                    if index % 5 == 0 { client.reset() } else { client.close() }
                }
            }.start()
        }
        #expect(group.wait(timeout: .now() + 120) == .success)
        let found = lock.withLock { failures.value }
        #expect(found.isEmpty, "\(found.prefix(10))")
        #expect(lock.withLock { reused.value } > 1000, "descriptor numbers were not reused")
        #expect(try runner.wait(timeout: 20) { runner.loop.connections.count == 0 })
    }
}
