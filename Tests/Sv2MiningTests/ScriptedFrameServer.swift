import Foundation
import Glibc
import Reactor
import Sv2Codec

/// A one-connection plain-Sv2 server that replays frames captured from a real peer: it answers the client's first
/// frame (SetupConnection) with the capture's first frame and its second (the channel request) with all the rest,
/// then keeps the connection open until `stop()`. Blocking sockets on its own thread, every wait bounded.
final class ScriptedFrameServer: @unchecked Sendable {
    /// One captured frame.
    struct Frame {
        let extensionType: UInt16
        let messageType: UInt8
        let payload: [UInt8]

        var bytes: [UInt8] {
            let length = payload.count
            return [UInt8(extensionType & 0xff), UInt8(extensionType >> 8), messageType,
                    UInt8(length & 0xff), UInt8((length >> 8) & 0xff), UInt8((length >> 16) & 0xff)] + payload
        }
    }

    let address: SocketAddress
    private let listener: Int32
    private let lock = NSLock()
    private var received: [Frame] = []
    private var failure: String?
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    /// Loads `Vectors/real-peers/<capture>.frames` from the test bundle.
    static func capture(_ name: String) throws -> [Frame] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "frames", subdirectory: "Vectors/real-peers")
        else { throw ScriptError.missing(name) }
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let ext = UInt16(parts[0], radix: 16), let type = UInt8(parts[1], radix: 16),
                  let payload = Sv2Hex.decode(String(parts[2])) else { throw ScriptError.malformed(String(line)) }
            return Frame(extensionType: ext, messageType: type, payload: payload)
        }
    }

    enum ScriptError: Error { case missing(String), malformed(String), socket(String) }

    /// Listens on 127.0.0.1 (ephemeral port) and serves `frames` to the first client.
    init(frames: [Frame]) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ScriptError.socket("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        guard bound == 0, listen(listener, 1) == 0 else { Glibc.close(listener); throw ScriptError.socket("bind/listen: \(errno)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        self.listener = listener
        do { address = try SocketAddress(ip: "127.0.0.1", port: UInt16(bigEndian: addr.sin_port)) } catch {
            Glibc.close(listener)
            throw error
        }
        let thread = Thread { [self] in
            serve(frames)
            finished.signal()
        }
        thread.start()
    }

    /// The frames the client sent (header + payload), in order.
    var clientFrames: [Frame] { lock.withLock { received } }
    /// What went wrong on the server side, if anything.
    var error: String? { lock.withLock { failure } }

    /// Closes the connection and the listener; waits (bounded) for the thread.
    func stop() {
        lock.withLock { stopped = true }
        _ = finished.wait(timeout: .now() + 10)
        Glibc.close(listener)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func serve(_ frames: [Frame]) {
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 10_000) == 1 else { return fail("no client within 10 s") }
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return fail("accept: \(errno)") }
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard let setup = readFrame(fd) else { return fail("no SetupConnection") }
        record(setup)
        guard write(fd, frames[0].bytes) else { return fail("write failed") }
        guard let request = readFrame(fd) else { return fail("no channel request") }
        record(request)
        guard write(fd, frames.dropFirst().flatMap(\.bytes)) else { return fail("write failed") }
        // Hold the connection (reading whatever comes, e.g. shares) until the test is done, at most 30 s.
        tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var scratch = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<300 where !isStopped {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { return }
        }
    }

    private func record(_ frame: Frame) { lock.withLock { received.append(frame) } }
    private func fail(_ message: String) { lock.withLock { failure = message } }

    private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            offset += n
        }
        return out
    }

    private func readFrame(_ fd: Int32) -> Frame? {
        guard let header = readExactly(fd, 6) else { return nil }
        let length = Int(header[3]) | Int(header[4]) << 8 | Int(header[5]) << 16
        guard length <= 1 << 16, let payload = readExactly(fd, length) else { return nil }
        return Frame(extensionType: UInt16(header[0]) | UInt16(header[1]) << 8, messageType: header[2], payload: payload)
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
