import CUring
import Glibc

/// Edge-triggered epoll backend. Reads go into one loop-wide chunk buffer; a connection only keeps
/// the leftover of a partial frame (see ``EventLoop/deliver(_:_:_:)``).
final class EpollDriver {
    unowned(unsafe) var loop: EventLoop!
    let epollFD: Int32
    private let events: UnsafeMutablePointer<cshims_epoll_event>
    private let eventCapacity = 256
    private let chunk: UnsafeMutableRawPointer
    private let chunkSize: Int

    private static let readEvents = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue)
    private static let writeEvent = UInt32(EPOLLOUT.rawValue)

    init(configuration: EventLoopConfiguration, wakeFD: Int32) throws(ReactorError) {
        let fd = cshims_epoll_create()
        guard fd >= 0 else { throw .system(-fd, "epoll_create1") }
        let result = cshims_epoll_ctl(fd, EPOLL_CTL_ADD, wakeFD, UInt32(EPOLLIN.rawValue),
                                      Token(.wake, generation: 0, slot: 0).raw)
        guard result == 0 else {
            _ = cshims_close(fd)
            throw .system(-result, "epoll_ctl add eventfd")
        }
        epollFD = fd
        events = .allocate(capacity: eventCapacity)
        chunkSize = Swift.max(configuration.receiveChunkSize, 64 * 1024)
        chunk = .allocate(byteCount: chunkSize, alignment: 16)
        self.wakeFD = wakeFD
    }

    private let wakeFD: Int32

    func destroy() {
        _ = cshims_close(epollFD)
        events.deallocate()
        chunk.deallocate()
    }

    func register(_ listener: Listener) throws(ReactorError) {
        let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
        let result = cshims_epoll_ctl(epollFD, EPOLL_CTL_ADD, listener.fd, UInt32(EPOLLIN.rawValue), token)
        guard result == 0 else { throw .system(-result, "epoll_ctl add listener \(listener.localAddress)") }
    }

    /// Re-enables a listener paused for lack of descriptors (see ``EventLoop/acceptFailed(_:errno:)``).
    func resumeAccepting(_ listener: Listener) {
        guard !listener.isClosed else { return }
        let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
        _ = cshims_epoll_ctl(epollFD, EPOLL_CTL_MOD, listener.fd, UInt32(EPOLLIN.rawValue), token)
    }

    func unregister(_ listener: Listener) {
        _ = cshims_epoll_ctl(epollFD, EPOLL_CTL_DEL, listener.fd, 0, 0)
    }

    func startReading(_ connection: Connection) throws(ReactorError) {
        let token = Token(.receive, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_epoll_ctl(epollFD, EPOLL_CTL_ADD, connection.fd, Self.readEvents, token)
        guard result == 0 else { throw .system(-result, "epoll_ctl add connection") }
        connection.wantsWritable = false
    }

    func startConnecting(_ connection: Connection) throws(ReactorError) {
        let token = Token(.connect, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_epoll_ctl(epollFD, EPOLL_CTL_ADD, connection.fd,
                                      UInt32(EPOLLOUT.rawValue | EPOLLET.rawValue), token)
        guard result == 0 else { throw .system(-result, "epoll_ctl add connecting socket") }
    }

    /// Switches a freshly connected socket to reading (MOD re-reports data that already arrived).
    func connected(_ connection: Connection) throws(ReactorError) {
        let token = Token(.receive, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, Self.readEvents, token)
        guard result == 0 else { throw .system(-result, "epoll_ctl mod connected socket") }
        connection.wantsWritable = false
    }

    private func setWantsWritable(_ connection: Connection, _ wants: Bool) {
        guard connection.wantsWritable != wants else { return }
        connection.wantsWritable = wants
        let token = Token(.receive, generation: connection.generation, slot: connection.slot).raw
        _ = cshims_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd,
                             wants ? Self.readEvents | Self.writeEvent : Self.readEvents, token)
    }

    /// Sends as much of the write buffer as the socket takes; waits for EPOLLOUT for the rest.
    func flush(_ connection: Connection) {
        while !connection.writeBuffer.isEmpty {
            let n = cshims_send(connection.fd, connection.writeBuffer.readPointer, connection.writeBuffer.readableBytes)
            if n > 0 {
                connection.writeBuffer.consume(n)
                continue
            }
            if n == -Int(EAGAIN) {
                setWantsWritable(connection, true)
                return
            }
            loop.finishClose(connection, reason: .fromErrno(Int32(-n)))
            return
        }
        setWantsWritable(connection, false)
        connection.didDrainWrites()
    }

    func teardown(_ connection: Connection) {
        guard !connection.fdClosed else { return }
        connection.fdClosed = true
        // close() also removes the socket from the epoll set (we never dup it).
        _ = cshims_close(connection.fd)
    }

    func wait(timeoutNanoseconds: UInt64?) throws(ReactorError) {
        let timeout: Int32
        if let ns = timeoutNanoseconds {
            timeout = Int32(clamping: (ns + 999_999) / 1_000_000)
        } else {
            timeout = -1
        }
        let count = cshims_epoll_wait(epollFD, events, Int32(eventCapacity), timeout)
        guard count >= 0 else { throw .system(-count, "epoll_wait") }
        loop.refreshNow()
        for i in 0..<Int(count) {
            dispatch(events[i])
        }
    }

    private func dispatch(_ event: cshims_epoll_event) {
        guard let token = Token(event.data) else { return }
        switch token.kind {
        case .wake:
            _ = cshims_eventfd_drain(wakeFD)
        case .listener:
            guard let listener = loop.listeners.lookup(slot: token.slot, generation: token.generation) else { return }
            acceptAll(listener)
        case .receive:
            guard let connection = loop.connections.lookup(slot: token.slot, generation: token.generation) else { return }
            let flags = event.events
            if flags & UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                readAll(connection, peerHungUp: flags & UInt32(EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0)
            }
            if flags & Self.writeEvent != 0, connection.wantsWritable {
                loop.flush(connection)
            }
        case .connect:
            guard let connection = loop.connections.lookup(slot: token.slot, generation: token.generation) else { return }
            loop.connectFinished(connection, error: cshims_socket_error(connection.fd))
        case .send, .cancel:
            break
        }
    }

    private func acceptAll(_ listener: Listener) {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        // Bounded so one busy listener cannot starve the connections (level-triggered: the rest comes next round).
        for _ in 0..<64 where !listener.isClosed && !listener.acceptPaused {
            let fd = cshims_accept(listener.fd, &storage, &length)
            if fd >= 0 {
                loop.accepted(fd, on: listener)
                continue
            }
            // Level-triggered: a listener left armed while descriptors are exhausted would wake every iteration.
            if fd != -EAGAIN, loop.acceptFailed(listener, errno: -fd) {
                let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
                _ = cshims_epoll_ctl(epollFD, EPOLL_CTL_MOD, listener.fd, 0, token)
            }
            return
        }
    }

    private func readAll(_ connection: Connection, peerHungUp: Bool) {
        while connection.state == .open || connection.state == .closing {
            let n = cshims_recv(connection.fd, chunk, chunkSize)
            if n > 0 {
                loop.deliver(connection, chunk, n)
                // A short read drained the socket; edge-triggered epoll reports new data as a new edge.
                if n < chunkSize && !peerHungUp { return }
                continue
            }
            if n == 0 {
                loop.peerClosed(connection)
                return
            }
            if n == -Int(EAGAIN) { return }
            loop.finishClose(connection, reason: .fromErrno(Int32(-n)))
            return
        }
    }
}
