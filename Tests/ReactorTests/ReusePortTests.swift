import Glibc
import Testing
@testable import Reactor

/// Several loops listening on one port with `SO_REUSEPORT` (the multi-core pool's listeners).
@Suite(.timeLimit(.minutes(1)))
struct ReusePortTests {
    /// Two loops listen on the same port; connections from many source ports are spread over both by the kernel,
    /// each accepted by exactly one loop, and each loop echoes on its own connections.
    @Test(arguments: backends)
    func connectionsSpreadOverTwoLoopsOnOnePort(_ backend: ReactorBackend) throws {
        let first = try LoopRunner(backend)
        defer { first.stop() }
        let second = try LoopRunner(backend)
        defer { second.stop() }
        let accepted = Probe<Int>()
        let listener = try first.sync {
            try first.loop.listen(on: loopback, reusePort: true) { _ in
                accepted.record(0)
                return EchoHandler()
            }
        }
        let port = listener.localAddress.port
        #expect(port != 0)
        let shared = try SocketAddress(ip: "127.0.0.1", port: port)
        let secondListener = try second.sync {
            try second.loop.listen(on: shared, reusePort: true) { _ in
                accepted.record(1)
                return EchoHandler()
            }
        }
        #expect(secondListener.localAddress.port == port)
        // The kernel picks a socket by a hash of the 4-tuple: with 64 connections the chance that all land on one
        // of the two sockets is 2^-63.
        let count = 64
        var sockets: [BlockingSocket] = []
        defer { sockets.forEach { $0.close() } }
        for index in 0..<count {
            let socket = try BlockingSocket(connectingTo: shared)
            sockets.append(socket)
            let payload = pattern(16, seed: UInt8(index))
            try socket.send(payload)
            #expect(socket.receive(16) == payload)
        }
        let loops = accepted.wait(count: count)
        #expect(loops.count == count)
        #expect(loops.contains(0))
        #expect(loops.contains(1))
        let perLoop = try (first.sync { first.loop.connections.count }, second.sync { second.loop.connections.count })
        #expect(perLoop.0 + perLoop.1 == count)
        #expect(perLoop.0 > 0 && perLoop.1 > 0)
    }

    /// Without `reusePort` on both sockets the second listen is refused (`EADDRINUSE`): the option is what lets
    /// loops share a port, never an accident of `SO_REUSEADDR`.
    @Test(arguments: backends)
    func aPlainListenerDoesNotShareItsPort(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoHandler() } }
        let shared = try SocketAddress(ip: "127.0.0.1", port: listener.localAddress.port)
        let result = try runner.sync { () -> ReactorError? in
            do throws(ReactorError) {
                _ = try runner.loop.listen(on: shared, reusePort: true) { _ in EchoHandler() }
                return nil
            } catch { return error }
        }
        #expect(result?.errno == EADDRINUSE)
    }
}
