import CUring
import Foundation
import Glibc
import Testing
@testable import Reactor

let backends: [ReactorBackend] = [.ioUring, .epoll]

@Suite(.timeLimit(.minutes(1)))
struct EventLoopTests {
    @Test(arguments: backends)
    func selectsRequestedBackend(_ backend: ReactorBackend) throws {
        let loop = try EventLoop(configuration: .init(backend: backend))
        #expect(loop.backend == backend)
    }

    @Test(arguments: backends, [1, 100, 4095, 65_537, 1 << 20])
    func echoesAllSizes(_ backend: ReactorBackend, size: Int) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoHandler() } }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        let payload = pattern(size, seed: 7)
        let reader = Box<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        Thread { reader.value = client.receive(size); done.signal() }.start()
        try client.send(payload)
        done.wait()
        #expect(reader.value.count == size)
        let identical = reader.value == payload
        #expect(identical)
    }

    @Test(arguments: backends)
    func servesThousandConcurrentConnections(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoHandler() } }
        var clients: [BlockingSocket] = []
        defer { for c in clients { c.close() } }
        for _ in 0..<1000 { clients.append(try BlockingSocket(connectingTo: listener.localAddress)) }
        for (i, client) in clients.enumerated() { try client.send(pattern(100, seed: UInt8(truncatingIfNeeded: i))) }
        var mismatches = 0
        for (i, client) in clients.enumerated() where client.receive(100) != pattern(100, seed: UInt8(truncatingIfNeeded: i)) {
            mismatches += 1
        }
        #expect(mismatches == 0)
        let open = try runner.sync { runner.loop.connections.count }
        #expect(open == 1000)
    }

    @Test(arguments: backends)
    func reportsPeerResetMidFrame(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let probe = Probe<(CloseReason, Int)>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { _ in
                FrameHandler { reason, pending in probe.record((reason, pending)) }
            }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        // Length prefix announces 1000 bytes, only 10 follow: the frame stays incomplete.
        try client.send([0xE8, 0x03, 0, 0] + pattern(10))
        Thread.sleep(forTimeInterval: 0.05)
        client.reset()
        let results = probe.wait()
        #expect(results.count == 1)
        #expect(results.first?.0 == .reset)
        #expect(results.first?.1 == 14)
    }

    @Test(arguments: backends)
    func connectToClosedPortFails(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        // Grab a free port, then close it so nothing listens there.
        let port = try runner.sync { () throws -> UInt16 in
            let listener = try runner.loop.listen(on: loopback) { _ in nil }
            listener.close()
            return listener.localAddress.port
        }
        let probe = Probe<Result<Connection, ReactorError>>()
        try runner.sync {
            runner.loop.connect(to: try SocketAddress(ip: "127.0.0.1", port: port), timeout: .seconds(2),
                                handler: EchoHandler()) { probe.record($0) }
        }
        let result = probe.wait().first
        guard case .failure(let error) = result else { Issue.record("expected failure, got \(String(describing: result))"); return }
        #expect(error.errno == ECONNREFUSED)
        #expect(try runner.sync { runner.loop.connections.count } == 0)
    }

    @Test(arguments: backends)
    func connectTimesOut(_ backend: ReactorBackend) throws {
        // A listener that never accepts, with its accept queue filled: further SYNs are dropped.
        let server = try BlockingListener(backlog: 0)
        defer { server.close() }
        var fillers: [Int32] = []
        defer { for fd in fillers { close(fd) } }
        for _ in 0..<4 {
            var fd: Int32 = -1
            _ = server.address.withSockAddr { cshims_connect($0, $1, &fd) }
            fillers.append(fd)
        }
        Thread.sleep(forTimeInterval: 0.1)
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let probe = Probe<(Result<Connection, ReactorError>, UInt64)>()
        let start = EventLoop.monotonicNow()
        try runner.sync {
            runner.loop.connect(to: server.address, timeout: .milliseconds(200), handler: EchoHandler()) {
                probe.record(($0, EventLoop.monotonicNow() - start))
            }
        }
        let result = probe.wait().first
        guard case .failure(let error)? = result?.0 else { Issue.record("expected timeout, got \(String(describing: result))"); return }
        #expect(error.kind == .timedOut)
        #expect(result!.1 >= 200_000_000)
        #expect(result!.1 < 1_000_000_000)
    }

    @Test(arguments: backends)
    func connectsAndExchangesWithLoopClient(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoHandler() } }
        let probe = Probe<[UInt8]>()
        try runner.sync {
            let collector = CollectingHandler { _, _ in }
            final class Forwarder: ConnectionHandler {
                let inner: CollectingHandler; let probe: Probe<[UInt8]>
                init(_ inner: CollectingHandler, _ probe: Probe<[UInt8]>) { self.inner = inner; self.probe = probe }
                func connection(_ c: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
                    let n = inner.connection(c, didRead: bytes)
                    if inner.received.count >= 5 { probe.record(inner.received); c.close() }
                    return n
                }
                func connection(_ c: Connection, didCloseWith reason: CloseReason) {}
            }
            runner.loop.connect(to: listener.localAddress, timeout: .seconds(2), handler: Forwarder(collector, probe)) { result in
                guard case .success(let connection) = result else { return }
                [UInt8]("hello".utf8).withUnsafeBytes { _ = connection.write($0) }
            }
        }
        #expect(probe.wait().first == Array("hello".utf8))
    }

    @Test(arguments: backends)
    func timersFireInOrderAndCancelledOnesDoNot(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let probe = Probe<Int>()
        let start = EventLoop.monotonicNow()
        let early = Box<[Int: UInt64]>([:])
        try runner.sync {
            let loop = runner.loop
            for delay in [50, 10, 40, 20, 30, 25] {
                let handle = loop.schedule(after: .milliseconds(delay)) {
                    early.value[delay] = EventLoop.monotonicNow() - start
                    probe.record(delay)
                }
                if delay == 40 || delay == 25 { loop.cancel(handle) }
            }
            // Cancelling twice, and cancelling a fired timer later, are harmless.
            let fired = loop.schedule(after: .milliseconds(1)) {}
            loop.schedule(after: .milliseconds(5)) { loop.cancel(fired); loop.cancel(fired) }
        }
        let order = probe.wait(count: 4)
        Thread.sleep(forTimeInterval: 0.1)
        #expect(order == [10, 20, 30, 50])
        #expect(probe.snapshot == [10, 20, 30, 50])
        for (delay, elapsed) in try runner.sync({ early.value }) {
            #expect(elapsed >= UInt64(delay) * 1_000_000, "timer \(delay) ms fired early")
        }
    }

    @Test(arguments: backends)
    func slowReaderOverflowsWriteBuffer(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend) { $0.maxWriteBufferSize = 256 * 1024 }
        defer { runner.stop() }
        let probe = Probe<CloseReason>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { connection in
                // Flood a peer that never reads, a chunk per timer tick.
                let chunk = pattern(64 * 1024)
                func pump() {
                    guard connection.isOpen else { return }
                    let ok = chunk.withUnsafeBytes { connection.write($0) }
                    #expect(connection.pendingWriteBytes <= 256 * 1024)
                    if ok { runner.loop.schedule(after: .milliseconds(1), pump) }
                }
                pump()
                return CollectingHandler { reason, _ in probe.record(reason) }
            }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        #expect(probe.wait().first == .writeBufferOverflow)
    }

    @Test(arguments: backends)
    func stopDeliversPendingWrites(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        let size = 3 << 20
        let payload = pattern(size, seed: 3)
        let accepted = DispatchSemaphore(value: 0)
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { connection in
                payload.withUnsafeBytes { _ = connection.write($0) }
                accepted.signal()
                return EchoHandler()
            }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        accepted.wait()
        // Stop while megabytes are still queued (the client has not read anything yet).
        // A Probe (lock + condition), not a Box: the flag crosses threads (ThreadSanitizer flagged the Box).
        let stopped = Probe<Bool>()
        let stopper = Thread { stopped.record(runner.stop(grace: .seconds(5), wait: 10)) }
        stopper.start()
        let received = client.receiveAll()
        #expect(received.count == size)
        let identical = received == payload
        #expect(identical)
        #expect(stopped.wait(timeout: 15) == [true])
        #expect(runner.runError == nil)
    }

    @Test(arguments: backends)
    func halfClosedPeerStillGetsReply(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let probe = Probe<CloseReason>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { _ in EchoHandler { probe.record($0) } }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        try client.send(pattern(5000))
        client.shutdownWrite()
        #expect(client.receiveAll() == pattern(5000))
        #expect(probe.wait().first == .peerClosed)
    }

    @Test(arguments: backends)
    func shutdownWriteSendsFinAfterPendingBytes(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { connection in
                pattern(10_000).withUnsafeBytes { _ = connection.write($0) }
                connection.shutdownWrite()
                return EchoHandler()
            }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        #expect(client.receiveAll() == pattern(10_000))
    }

    @Test(arguments: backends)
    func executeFromOtherThreads(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let counter = Box(0)
        let done = DispatchSemaphore(value: 0)
        let loopThread = Box<pthread_t?>(nil)
        runner.loop.execute { loopThread.value = pthread_self() }
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<250 {
                runner.loop.execute {
                    counter.value += 1
                    if pthread_equal(loopThread.value!, pthread_self()) == 0 { counter.value = -1_000_000 }
                    if counter.value == 2000 { done.signal() }
                }
            }
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(try runner.sync { counter.value } == 2000)
    }

    @Test(arguments: backends)
    func readCapClosesConnection(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend) { $0.maxReadBufferSize = 64 * 1024 }
        defer { runner.stop() }
        let probe = Probe<CloseReason>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { _ in CollectingHandler(consume: false) { reason, _ in probe.record(reason) } }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        try? client.send(pattern(200 * 1024))
        #expect(probe.wait().first == .readBufferOverflow)
    }

    @Test(arguments: backends)
    func partialFramesArePresentedAgainWithNewBytes(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let frames = Probe<[UInt8]>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { _ in FrameHandler(onFrame: { frames.record($0) }) { _, _ in } }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        let body = pattern(3000, seed: 9)
        let frame = [UInt8(3000 & 0xFF), UInt8(3000 >> 8), 0, 0] + body
        // Dribble the frame in pieces so the handler sees it incomplete several times.
        for piece in stride(from: 0, to: frame.count, by: 700) {
            try client.send(Array(frame[piece..<min(piece + 700, frame.count)]))
            Thread.sleep(forTimeInterval: 0.01)
        }
        try client.send(frame)
        let got = frames.wait(count: 2)
        #expect(got == [body, body])
    }

    @Test(arguments: backends)
    func abortDropsPendingWritesAndNotifiesOnce(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let probe = Probe<CloseReason>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { connection in
                let handler = EchoHandler { probe.record($0) }
                pattern(1000).withUnsafeBytes { _ = connection.write($0) }
                connection.abort()
                connection.abort()
                #expect(!connection.write(UnsafeRawBufferPointer(start: nil, count: 0)))
                return handler
            }
        }
        let client = try BlockingSocket(connectingTo: listener.localAddress)
        defer { client.close() }
        #expect(client.receiveAll().isEmpty)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(probe.snapshot == [.closedLocally])
    }
}

/// Consumes little-endian u32 length-prefixed frames; leaves partial frames unconsumed.
final class FrameHandler: ConnectionHandler {
    let onFrame: ([UInt8]) -> Void
    let onClose: (CloseReason, Int) -> Void
    var lastUnconsumed = 0
    init(onFrame: @escaping ([UInt8]) -> Void = { _ in }, onClose: @escaping (CloseReason, Int) -> Void) {
        self.onFrame = onFrame
        self.onClose = onClose
    }
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        var offset = 0
        while bytes.count - offset >= 4 {
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
            guard bytes.count - offset - 4 >= length else { break }
            onFrame(Array(bytes[(offset + 4)..<(offset + 4 + length)]))
            offset += 4 + length
        }
        lastUnconsumed = bytes.count - offset
        return offset
    }
    func connection(_ connection: Connection, didCloseWith reason: CloseReason) { onClose(reason, lastUnconsumed) }
}

/// A plain listening socket that never accepts.
struct BlockingListener {
    let fd: Int32
    let address: SocketAddress
    init(backlog: Int32) throws {
        let any = try SocketAddress(ip: "127.0.0.1", port: 0)
        fd = any.withSockAddr { cshims_listen($0, $1, backlog) }
        guard fd >= 0 else { throw ReactorError.system(-fd, "test listen") }
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        _ = cshims_sockname(fd, &storage, &length)
        address = SocketAddress(storage: &storage)!
    }
    func close() { Glibc.close(fd) }
}

struct MemoryTests {
    /// Memory a connection holds in user space while idle (after one echo, so its write buffer was used):
    /// the Connection object plus its buffers must stay under the 8 KiB budget. Kernel socket buffers and
    /// the handler (owned by the service) are not counted.
    @Test(arguments: backends)
    func idleConnectionsStayUnderBudget(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoHandler() } }
        var clients: [BlockingSocket] = []
        defer { for c in clients { c.close() } }
        for _ in 0..<200 { clients.append(try BlockingSocket(connectingTo: listener.localAddress)) }
        for client in clients { try client.send(pattern(100)) }
        for client in clients { #expect(client.receive(100).count == 100) }
        let sizes = try runner.sync {
            runner.loop.connections.all.map { c in
                cshims_malloc_usable_size(Unmanaged.passUnretained(c).toOpaque())
                    + c.readBuffer.capacity + c.writeBuffer.capacity
            }
        }
        #expect(sizes.count == 200)
        let worst = sizes.max() ?? 0
        print("[\(backend)] bytes per idle connection: \(worst)")
        #expect(worst <= 8 * 1024)
    }
}
