import Foundation
import Glibc

/// A TCP forwarder on 127.0.0.1 that a test can take down and bring back, to give a client a real outage of the
/// server behind it (PostgreSQL): while down it closes every forwarded connection and refuses new ones (accept,
/// then close at once), exactly what a client sees when the server dies or is unreachable.
public final class TCPForwarder: @unchecked Sendable {
    /// The port clients connect to.
    public let port: UInt16
    private let target: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var up = true
    private var stopped = false
    private var pairs: [(Int32, Int32)] = []

    /// Listens on a free port of 127.0.0.1 and forwards to `127.0.0.1:target`.
    public init(target: UInt16) throws {
        self.target = target
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw TCPForwarderError.system(errno)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { stop() }

    /// Brings the server "back" (new connections are forwarded again).
    public func bringUp() { lock.lock(); up = true; lock.unlock() }

    /// Takes the server "down": every forwarded connection is cut, new ones are closed at once.
    public func takeDown() {
        lock.lock()
        up = false
        let cut = pairs
        pairs.removeAll()
        lock.unlock()
        for (a, b) in cut {
            shutdown(a, Int32(SHUT_RDWR))
            shutdown(b, Int32(SHUT_RDWR))
        }
    }

    /// Stops listening and cuts everything.
    public func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        takeDown()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            lock.lock()
            let forward = up && !stopped
            lock.unlock()
            guard forward else { close(client); continue }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { close(client); close(server); continue }
            lock.lock()
            pairs.append((client, server))
            lock.unlock()
            let thread = Thread { [self] in pump(client, server) }
            thread.start()
        }
    }

    /// Copies both ways until either side closes (or the pair is cut), then closes both.
    private func pump(_ a: Int32, _ b: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        loop: while true {
            let ready = poll(&fds, 2, 1000)
            if ready < 0, errno == EINTR { continue }
            if ready < 0 { break }
            for (index, entry) in fds.enumerated() where entry.revents != 0 {
                let from = entry.fd, to = index == 0 ? b : a
                let count = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
                if count <= 0 { break loop }
                var sent = 0
                while sent < count {
                    let n = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { break loop }
                    sent += n
                }
            }
        }
        lock.lock()
        pairs.removeAll { $0 == (a, b) }
        lock.unlock()
        close(a)
        close(b)
    }
}

/// A forwarder set-up failure.
public enum TCPForwarderError: Error { case system(Int32) }
