import CUring
import Glibc
import Logging

extension EventLoop {
    /// Listens on `address` (port 0 picks a free port; see ``Listener/localAddress``). For every accepted
    /// connection `onAccept` returns its handler, or nil to refuse (the socket is closed).
    ///
    /// With `reusePort` the socket sets `SO_REUSEPORT`: several loops (threads) of one process can each listen on
    /// the same address and port (every one of them with `reusePort`), and the kernel spreads incoming connections
    /// over their sockets by a hash of the connection's addresses, so each connection is accepted, and then owned,
    /// by exactly one loop. Listen on port 0 with the first loop, then on the port it got with the others.
    public func listen(on address: SocketAddress, backlog: Int32 = 4096, reusePort: Bool = false,
                       onAccept: @escaping (Connection) -> (any ConnectionHandler)?) throws(ReactorError) -> Listener {
        assertInLoop()
        guard !isStopping else { throw ReactorError(.stopped, context: "listen \(address)") }
        let fd = address.withSockAddr {
            reusePort ? cshims_listen_reuseport($0, $1, backlog) : cshims_listen($0, $1, backlog)
        }
        guard fd >= 0 else { throw .system(-fd, "listen \(address)") }
        let descriptor = Descriptor(adopting: fd)
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let local = cshims_sockname(descriptor.rawValue, &storage, &length) == 0 ? SocketAddress(storage: &storage) : nil
        let listener = listeners.insert { slot, generation in
            Listener(localAddress: local ?? address, loop: self, handle: IOHandle(slot: slot, generation: generation),
                     onAccept: onAccept)
        }
        do throws(ReactorError) {
            try io.addListener(listener.handle, descriptor: descriptor)
        } catch {
            listeners.remove(slot: listener.slot)
            descriptor.close()
            throw ReactorError(error.kind, errno: error.errno, context: "\(error.context) \(address)")
        }
        listener.descriptor = consume descriptor
        return listener
    }

    func closeListener(_ listener: Listener) {
        guard let descriptor = listener.descriptor.take() else { return }
        io.removeListener(listener.handle, descriptor: descriptor)
        listeners.remove(slot: listener.slot)
    }

    /// A backend reported an accept on `listener`: a new socket, or the `errno` of a failed accept.
    func accepted(_ result: Int32, on handle: IOHandle) {
        guard let listener = listeners.lookup(slot: handle.slot, generation: handle.generation) else {
            // The listener closed while the accept was under way: nobody will own this socket.
            if result >= 0 { Descriptor(adopting: result).close() }
            return
        }
        guard result >= 0 else {
            if acceptFailed(listener, errno: -result) {
                _ = listener.withDescriptor { io.setAccepting(listener.handle, descriptor: $0, false) }
            }
            return
        }
        accepted(Descriptor(adopting: result), on: listener)
    }

    private func accepted(_ descriptor: consuming Descriptor, on listener: Listener) {
        listener.acceptBackoff = 0
        if isStopping || listener.isClosed {
            descriptor.close()
            return
        }
        _ = cshims_set_nodelay(descriptor.rawValue)
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let remote = (cshims_peername(descriptor.rawValue, &storage, &length) == 0 ? SocketAddress(storage: &storage) : nil)
            ?? listener.localAddress
        let connection = makeConnection(descriptor: descriptor, remote: remote, lifecycle: .open(.none))
        guard let handler = listener.onAccept(connection) else {
            connection.lifecycle = .closed(.closedLocally)
            connection.descriptor.take()?.close()
            connections.remove(slot: connection.slot)
            return
        }
        connection.handler = handler
        guard !connection.lifecycle.isClosed else { return }
        if readingPausedLoopWide { connection.readPause.insert(.loop) }
        startReadingIfWanted(connection)
    }

    /// Called when accepting on `listener` failed with `errno`. When the process (or system) is out of descriptors or
    /// memory, retrying at once would fail again at once: accepting pauses on this listener with a doubling backoff
    /// (`acceptBackoffInitial`…`acceptBackoffMaximum`) and resumes from a timer, so a shortage costs one failed accept
    /// per pause instead of a spinning loop. Returns whether accepting was paused (the caller then tells the backend).
    /// Warnings go through the rate limiter either way.
    func acceptFailed(_ listener: Listener, errno: Int32) -> Bool {
        let exhausted = errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM
        if exhausted && !listener.isClosed && !isStopping {
            let initial = configuration.acceptBackoffInitial.nanoseconds
            let maximum = configuration.acceptBackoffMaximum.nanoseconds
            listener.acceptBackoff = listener.acceptBackoff == 0 ? initial : Swift.min(listener.acceptBackoff &* 2, maximum)
            listener.acceptPaused = true
            listener.acceptPauses += 1
        }
        warnLimited("accept failed", metadata: [
            "errno": "\(errno)", "listener": "\(listener.localAddress)",
            "paused_ms": "\(listener.acceptPaused ? listener.acceptBackoff / 1_000_000 : 0)",
        ])
        guard listener.acceptPaused else { return false }
        schedule(after: .nanoseconds(Int64(clamping: listener.acceptBackoff))) { [unowned(unsafe) self] in
            guard listener.acceptPaused, !listener.isClosed, !self.isStopping else { return }
            listener.acceptPaused = false
            _ = listener.withDescriptor { self.io.setAccepting(listener.handle, descriptor: $0, true) }
        }
        return true
    }

    /// Logs a reactor warning unless more than the limiter allows came recently; the suppressed ones are summed up in
    /// one line when the limiter's window ends.
    func warnLimited(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata) {
        if warningLimiter.admit(now: now) {
            logger.warning(message(), metadata: metadata())
            return
        }
        guard !warningSummaryScheduled else { return }
        warningSummaryScheduled = true
        let delay = warningLimiter.nanosecondsUntilWindowEnds(now: now)
        schedule(after: .nanoseconds(Int64(clamping: delay))) { [unowned(unsafe) self] in
            self.warningSummaryScheduled = false
            let suppressed = self.warningLimiter.takeSuppressed()
            if suppressed > 0 {
                self.logger.warning("suppressed \(suppressed) similar reactor warnings", metadata: ["suppressed": "\(suppressed)"])
            }
        }
    }
}

extension Listener {
    /// Runs `body` with the listening socket while it is open.
    func withDescriptor<R>(_ body: (borrowing Descriptor) -> R) -> R? {
        switch descriptor {
        case .some(let descriptor): return body(descriptor)
        case .none: return nil
        }
    }
}
