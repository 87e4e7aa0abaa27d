import CUring
import Dispatch
import Foundation
import Glibc
@testable import Reactor
@_exported import LoopTestSupport

/// Thread-safe recorder for values produced on the loop and awaited by the test thread.
final class Probe<T>: @unchecked Sendable {
    private let lock = NSLock()
    private let condition = NSCondition()
    private var values: [T] = []

    func record(_ value: T) {
        condition.lock()
        values.append(value)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until at least `count` values were recorded (or the timeout passes) and returns them.
    func wait(count: Int = 1, timeout: Double = 5) -> [T] {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while values.count < count {
            if !condition.wait(until: deadline) { break }
        }
        return values
    }

    var snapshot: [T] {
        condition.lock()
        defer { condition.unlock() }
        return values
    }
}

/// Echoes everything it reads.
final class EchoHandler: ConnectionHandler {
    var closed: ((CloseReason) -> Void)?
    init(closed: ((CloseReason) -> Void)? = nil) { self.closed = closed }
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        connection.write(UnsafeRawBufferPointer(bytes))
        return bytes.count
    }
    func connection(_ connection: Connection, didCloseWith reason: CloseReason) { closed?(reason) }
}

/// Collects what it reads, reports closes.
final class CollectingHandler: ConnectionHandler {
    var received: [UInt8] = []
    var consume = true
    let onClose: (CloseReason, [UInt8]) -> Void
    init(consume: Bool = true, onClose: @escaping (CloseReason, [UInt8]) -> Void) {
        self.consume = consume
        self.onClose = onClose
    }
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard consume else { return 0 }
        received.append(contentsOf: bytes)
        return bytes.count
    }
    func connection(_ connection: Connection, didCloseWith reason: CloseReason) { onClose(reason, received) }
}

/// Minimal blocking client socket for driving the server side from the test thread.
struct BlockingSocket {
    let fd: Int32

    init(connectingTo address: SocketAddress) throws {
        var fd: Int32 = -1
        let result = address.withSockAddr { cshims_connect($0, $1, &fd) }
        guard result == 0 || result == -EINPROGRESS else { throw ReactorError.system(-result, "test connect") }
        // Wait for the non-blocking connect, then switch to blocking mode.
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&pfd, 1, 5000)
        let error = cshims_socket_error(fd)
        guard error == 0 else { Glibc.close(fd); throw ReactorError.system(error, "test connect") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { cshims_send(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard n > 0 else { throw ReactorError.system(Int32(-n), "test send") }
            offset += n
        }
    }

    /// Reads exactly `count` bytes (or fewer on EOF/error/timeout).
    func receive(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = out.withUnsafeMutableBytes { cshims_recv(fd, $0.baseAddress! + offset, count - offset) }
            if n <= 0 { break }
            offset += n
        }
        return Array(out[0..<offset])
    }

    /// Reads until EOF (or error/timeout).
    func receiveAll() -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { cshims_recv(fd, $0.baseAddress!, 65536) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    func shutdownWrite() { _ = cshims_shutdown(fd, Int32(SHUT_WR)) }

    func reset() {
        _ = cshims_set_linger_zero(fd)
        Glibc.close(fd)
    }

    func close() { Glibc.close(fd) }
}

func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

let loopback = try! SocketAddress(ip: "127.0.0.1", port: 0)
