import CUring
import Foundation
import Glibc
import Testing
@testable import Reactor

/// Records what it reads; can pause its own connection after a number of bytes.
private final class PausingHandler: ConnectionHandler {
    let received = Box<[UInt8]>([])
    let closed = Box<CloseReason?>(nil)
    /// Pause reading from inside `didRead` once this many bytes arrived (nil: never).
    var pauseAfter: Int?
    var connection: Connection?

    init(pauseAfter: Int? = nil) { self.pauseAfter = pauseAfter }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        received.value.append(contentsOf: bytes)
        if let limit = pauseAfter, received.value.count >= limit {
            pauseAfter = nil
            connection.loop.pauseReading(connection)
        }
        return bytes.count
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) { closed.value = reason }
}

/// Bytes waiting in the kernel's receive queue of `connection`'s socket (peeked, not read). Loop thread.
private func queuedInKernel(_ connection: Connection) -> Int {
    var scratch = [UInt8](repeating: 0, count: 1 << 20)
    let n = connection.withDescriptor { d in
        scratch.withUnsafeMutableBytes { recv(d.rawValue, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
    } ?? -1
    return Swift.max(n, 0)
}

/// `pauseReading`/`resumeReading` (back-pressure for issue #13): a paused connection's bytes are not delivered
/// until the resume, none are lost, and a connection closed while paused is cleaned up.
@Suite("Read pause", .serialized, .timeLimit(.minutes(1)))
struct ReadPauseTests {
    /// Accepts one connection per call and hands its handler and connection to the test.
    private func serve(_ runner: LoopRunner, pauseOnAccept: Bool, pauseAfter: Int? = nil)
        throws -> (Listener, Box<[PausingHandler]>) {
        let handlers = Box<[PausingHandler]>([])
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { connection in
                let handler = PausingHandler(pauseAfter: pauseAfter)
                handler.connection = connection
                handlers.value.append(handler)
                if pauseOnAccept { runner.loop.pauseReading(connection) }
                return handler
            }
        }
        return (listener, handlers)
    }

    @Test(arguments: backends)
    func pausedConnectionGetsItsBytesOnlyAfterResume(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let (listener, handlers) = try serve(runner, pauseOnAccept: true)
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        let payload = pattern(40_000, seed: 3)
        try client.send(payload)
        // The bytes reached the server's kernel, and the handler saw none of them.
        #expect(try runner.wait { handlers.value.first.map { queuedInKernel($0.connection!) } == payload.count })
        #expect(try runner.sync { handlers.value[0].received.value.isEmpty && handlers.value[0].connection!.isReadingPaused })
        try runner.sync { runner.loop.resumeReading(handlers.value[0].connection!) }
        #expect(try runner.wait { handlers.value[0].received.value.count == payload.count })
        #expect(try runner.sync { handlers.value[0].received.value } == payload)
    }

    /// The handler pauses itself mid-stream; what the backend had already taken from the kernel is kept, what the
    /// peer sends next stays in the kernel, and everything arrives in order after the resume.
    @Test(arguments: backends)
    func pauseFromInsideAReadLosesNothing(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let (listener, handlers) = try serve(runner, pauseOnAccept: false, pauseAfter: 1)
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        let first = pattern(1000, seed: 1)
        let second = pattern(40_000, seed: 2)  // fits the server's receive buffer: the send returns
        try client.send(first)
        #expect(try runner.wait { handlers.value.first?.connection?.isReadingPaused == true })
        try client.send(second)
        let total = first.count + second.count
        // Every byte is at the server (delivered, kept by the loop, or in the kernel) before the resume.
        #expect(try runner.wait {
            let handler = handlers.value[0], connection = handler.connection!
            return handler.received.value.count + connection.readBuffer.readableBytes + queuedInKernel(connection) == total
        })
        let delivered = try runner.sync { handlers.value[0].received.value.count }
        #expect(delivered < total)
        // Still nothing new while paused, after the loop went round a few more times.
        let iteration = try runner.sync { runner.loop.iteration }
        #expect(try runner.wait { runner.loop.iteration > iteration + 3 })
        #expect(try runner.sync { handlers.value[0].received.value.count } == delivered)
        try runner.sync { runner.loop.resumeReading(handlers.value[0].connection!) }
        #expect(try runner.wait { handlers.value[0].received.value.count == total })
        #expect(try runner.sync { handlers.value[0].received.value } == first + second)
    }

    /// A FIN that comes while paused waits behind the bytes before it.
    @Test(arguments: backends)
    func peerCloseWhilePausedIsSeenAfterTheData(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let (listener, handlers) = try serve(runner, pauseOnAccept: true)
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        let payload = pattern(10_000, seed: 9)
        try client.send(payload)
        client.shutdownWrite()
        #expect(try runner.wait { handlers.value.first.map { queuedInKernel($0.connection!) } == payload.count })
        #expect(try runner.sync { handlers.value[0].closed.value == nil && handlers.value[0].received.value.isEmpty })
        try runner.sync { runner.loop.resumeReading(handlers.value[0].connection!) }
        #expect(try runner.wait { handlers.value[0].closed.value != nil })
        #expect(try runner.sync { handlers.value[0].closed.value } == .peerClosed)
        #expect(try runner.sync { handlers.value[0].received.value } == payload)
        #expect(try runner.wait { runner.loop.connections.count == 0 })
    }

    /// Closing or aborting a paused connection frees it like any other; the peer sees the close.
    @Test(arguments: backends, [false, true])
    func connectionClosedWhilePausedIsCleanedUp(_ backend: ReactorBackend, abort: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let (listener, handlers) = try serve(runner, pauseOnAccept: false, pauseAfter: 1)
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        try client.send(pattern(100))
        #expect(try runner.wait { handlers.value.first?.connection?.isReadingPaused == true })
        try client.send(pattern(5000))
        try runner.sync {
            let connection = handlers.value[0].connection!
            [UInt8(42)].withUnsafeBytes { _ = connection.write($0) }
            if abort { connection.abort() } else { connection.close() }
        }
        #expect(try runner.wait { handlers.value[0].closed.value != nil })
        #expect(try runner.sync { handlers.value[0].closed.value } == .closedLocally)
        #expect(try runner.wait { runner.loop.connections.count == 0 })
        // The peer sees the end (a reset: the server closed with unread bytes in its kernel buffer).
        #expect(client.receiveAll().count <= 1)
    }

    /// `pauseReadingAll` holds every connection, including ones accepted meanwhile; lifting it leaves connections
    /// paused on their own paused.
    @Test(arguments: backends)
    func pauseAllCoversNewConnectionsAndRespectsSinglePauses(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let (listener, handlers) = try serve(runner, pauseOnAccept: false)
        let a = try BlockingSocket(connectingTo: listener.localAddress)
        let b = try BlockingSocket(connectingTo: listener.localAddress)
        defer { a.close(); b.close() }
        #expect(try runner.wait { handlers.value.count == 2 })
        try runner.sync {
            runner.loop.pauseReadingAll()
            runner.loop.pauseReading(handlers.value[1].connection!)
        }
        let c = try BlockingSocket(connectingTo: listener.localAddress)
        defer { c.close() }
        #expect(try runner.wait { handlers.value.count == 3 })
        for (i, client) in [a, b, c].enumerated() { try client.send(pattern(3000, seed: UInt8(i))) }
        #expect(try runner.wait { handlers.value.allSatisfy { queuedInKernel($0.connection!) == 3000 } })
        #expect(try runner.sync { handlers.value.allSatisfy { $0.received.value.isEmpty } })
        try runner.sync { runner.loop.resumeReadingAll() }
        #expect(try runner.wait {
            handlers.value[0].received.value.count == 3000 && handlers.value[2].received.value.count == 3000
        })
        #expect(try runner.sync { handlers.value[1].received.value.isEmpty && handlers.value[1].connection!.isReadingPaused })
        try runner.sync { runner.loop.resumeReading(handlers.value[1].connection!) }
        #expect(try runner.wait { handlers.value[1].received.value == pattern(3000, seed: 1) })
        #expect(try runner.sync { handlers.value[0].received.value == pattern(3000, seed: 0) })
    }

    /// An outgoing connection opened while `pauseReadingAll` is in effect starts reading only on resume.
    @Test(arguments: backends)
    func connectingConnectionCanBePaused(_ backend: ReactorBackend) throws {
        let server = try LoopRunner(backend)
        defer { server.stop() }
        let listener = try server.sync { try server.loop.listen(on: loopback) { _ in EchoHandler() } }
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let handler = PausingHandler()
        let opened = Box<Connection?>(nil)
        try runner.sync {
            runner.loop.pauseReadingAll()
            runner.loop.connect(to: listener.localAddress, timeout: .seconds(5), handler: handler) { result in
                guard case .success(let connection) = result else { return }
                opened.value = connection
                handler.connection = connection
                [UInt8](repeating: 5, count: 64).withUnsafeBytes { _ = connection.write($0) }
            }
        }
        // The echo is back in the client's kernel buffer, unread.
        #expect(try runner.wait { opened.value.map { queuedInKernel($0) == 64 } ?? false })
        #expect(try runner.sync { handler.received.value.isEmpty && opened.value!.isReadingPaused })
        try runner.sync { runner.loop.resumeReadingAll() }
        #expect(try runner.wait { handler.received.value == [UInt8](repeating: 5, count: 64) })
    }
}
