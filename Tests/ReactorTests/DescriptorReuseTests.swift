import CShims
import Dispatch
import Foundation
import Glibc
import Testing
@testable import Reactor

/// Echoes what it reads; closes after the echo when the first byte is odd (a server-side close racing the client's).
private final class EchoThenMaybeClose: ConnectionHandler {
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard bytes.count >= 64 else { return 0 }
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
    /// 6,000 short connections in waves of 60 (the numbers of each wave's sockets are the previous wave's): each gets
    /// exactly its own 64 bytes back, whoever closes first (server after its echo, client after reading it, or the
    /// client with a reset), and the loop ends with no connection left.
    @Test(arguments: backends)
    func thousandsOfShortConnectionsNeverCrossTalk(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoThenMaybeClose() } }
        var failures: [String] = []
        var reusedNumbers = 0
        var previousWave = Set<Int32>()
        for wave in 0..<100 {
            var clients: [BlockingSocket] = []
            for _ in 0..<60 { clients.append(try BlockingSocket(connectingTo: listener.localAddress)) }
            let numbers = Set(clients.map(\.fd))
            reusedNumbers += numbers.intersection(previousWave).count
            previousWave = numbers
            for (index, client) in clients.enumerated() {
                var message = pattern(64, seed: UInt8(truncatingIfNeeded: wave &* 61 &+ index))
                message[0] = UInt8(index & 1) | UInt8(truncatingIfNeeded: wave << 1)
                message[1] = UInt8(truncatingIfNeeded: index)
                try client.send(message)
            }
            for (index, client) in clients.enumerated() {
                var expected = pattern(64, seed: UInt8(truncatingIfNeeded: wave &* 61 &+ index))
                expected[0] = UInt8(index & 1) | UInt8(truncatingIfNeeded: wave << 1)
                expected[1] = UInt8(truncatingIfNeeded: index)
                let echo = client.receive(64)
                if echo != expected { failures.append("wave \(wave) client \(index): got \(echo.count) bytes, wrong: \(echo != expected)") }
                if index % 5 == 0 { client.reset() } else { client.close() }
            }
            if failures.count > 10 { break }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
        #expect(reusedNumbers > 1000, "descriptor numbers were not reused (\(reusedNumbers))")
        #expect(try runner.wait(timeout: 20) { runner.loop.connections.count == 0 })
    }
}
