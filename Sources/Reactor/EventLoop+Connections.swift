import CUring
import Glibc

extension EventLoop {
    func makeConnection(descriptor: consuming Descriptor, remote: SocketAddress,
                        lifecycle: Connection.Lifecycle) -> Connection {
        let id = nextConnectionID
        nextConnectionID += 1
        let connection = connections.insert { slot, generation in
            Connection(id: id, remoteAddress: remote, loop: self,
                       handle: IOHandle(slot: slot, generation: generation), lifecycle: lifecycle)
        }
        connection.descriptor = consume descriptor
        return connection
    }

    // MARK: Connecting

    /// Connects to `address`; `completion` runs on the loop thread with the open connection (now served by
    /// `handler`) or the error (refused, unreachable, ``ReactorError/Kind/timedOut``, stopped). It is never
    /// called from inside `connect` itself.
    ///
    /// `source`, when given, is the local address to bind first (port 0 lets the kernel pick the port per
    /// destination), e.g. one of 127.0.0.0/8 to open more connections to one server than one address has ports.
    public func connect(to address: SocketAddress, from source: SocketAddress? = nil, timeout: Duration,
                        handler: any ConnectionHandler,
                        completion: @escaping (Result<Connection, ReactorError>) -> Void) {
        assertInLoop()
        guard !isStopping else {
            deferred.append { completion(.failure(ReactorError(.stopped, context: "connect \(address)"))) }
            return
        }
        var fd: Int32 = -1
        let result = address.withSockAddr { remote, remoteLength in
            guard let source else { return cshims_connect(remote, remoteLength, &fd) }
            return source.withSockAddr { cshims_connect_from(remote, remoteLength, $0, $1, &fd) }
        }
        if result != 0 && result != -EINPROGRESS {
            if fd >= 0 { Descriptor(adopting: fd).close() }
            let context = source.map { "connect \(address) from \($0)" } ?? "connect \(address)"
            deferred.append { completion(.failure(.system(-result, context))) }
            return
        }
        let descriptor = Descriptor(adopting: fd)
        _ = cshims_set_nodelay(descriptor.rawValue)
        let connection = makeConnection(descriptor: descriptor, remote: address,
                                        lifecycle: .connecting(completion: completion, timer: nil))
        connection.handler = handler
        let timer = schedule(after: timeout) { [unowned(unsafe) self] in
            self.failConnect(connection, ReactorError(.timedOut, errno: ETIMEDOUT, context: "connect \(address)"))
        }
        connection.lifecycle = .connecting(completion: completion, timer: timer)
        do throws(ReactorError) {
            _ = try connection.withDescriptor { d throws(ReactorError) in try io.connect(connection.handle, descriptor: d) }
        } catch {
            failConnect(connection, error)
        }
    }

    /// The backend reported that a connect attempt finished; `result` is `-errno` when it already knows it failed.
    func connectFinished(_ connection: Connection, result: Int32) {
        guard case .connecting(let completion, let timer) = connection.lifecycle else { return }
        let error = result < 0 ? -result : (connection.withDescriptor { cshims_socket_error($0.rawValue) } ?? EBADF)
        guard error == 0 else {
            failConnect(connection, .system(error, "connect \(connection.remoteAddress)"))
            return
        }
        if readingPausedLoopWide { connection.readPause.insert(.loop) }
        if connection.readPause.isEmpty {
            do throws(ReactorError) {
                _ = try connection.withDescriptor { d throws(ReactorError) in
                    try io.startReading(connection.handle, descriptor: d)
                }
            } catch {
                failConnect(connection, error)
                return
            }
        }
        if let timer { timers.cancel(timer) }
        connection.lifecycle = .open(.none)
        completion?(.success(connection))
    }

    func failConnect(_ connection: Connection, _ error: ReactorError) {
        guard case .connecting(let completion, let timer) = connection.lifecycle else { return }
        connection.lifecycle = .closed(.closedLocally)
        if let timer { timers.cancel(timer) }
        connection.handler = nil
        teardown(connection)
        completion?(.failure(error))
    }

    // MARK: Events

    /// Acts on what the backend's last `wait` reported. Replies written while handling the events before the first
    /// accepted socket are sent before it is handled: refusing (or admitting) a burst of new connections is kernel
    /// work — accept, close, a reset — that established connections' acknowledgements should not wait behind.
    func handleEvents() {
        let count = events.count
        var repliesSent = false
        for index in 0..<count {
            let event = events[index]
            if event.kind == .accepted, !repliesSent {
                repliesSent = true
                if !dirty.isEmpty {
                    flushDirty()
                    io.submitPending()
                }
            }
            handle(event)
        }
        events.removeAll()
    }

    private func handle(_ event: IOEvent) {
        if event.kind == .accepted {
            accepted(event.result, on: event.handle)
            return
        }
        guard let connection = connections.lookup(slot: event.handle.slot, generation: event.handle.generation)
        else { return }
        switch event.kind {
        case .received:
            deliver(connection, event.bytes!, Int(event.result))
        case .readEnded:
            if event.result == 0 { peerClosed(connection) } else { finishClose(connection, reason: .fromErrno(-event.result)) }
        case .sent:
            sendCompleted(connection, result: event.result)
        case .writable:
            flush(connection)
        case .connected:
            connectFinished(connection, result: event.result)
        case .released:
            release(connection)
        case .accepted:
            break
        }
    }

    // MARK: Reading

    /// Hands received bytes to the connection's handler, keeping only a partial frame's leftover. While reading is
    /// paused the bytes (already taken from the kernel) are kept for the resume instead.
    func deliver(_ connection: Connection, _ base: UnsafeMutableRawPointer, _ count: Int) {
        guard connection.lifecycle.isOpen, let handler = connection.handler else { return }
        let maxRead = configuration.maxReadBufferSize
        if connection.readBuffer.isEmpty && connection.readPause.isEmpty {
            let consumed = handler.connection(connection, didRead: UnsafeMutableRawBufferPointer(start: base, count: count))
            guard connection.lifecycle.isOpen else { return }
            let used = Swift.min(Swift.max(consumed, 0), count)
            let rest = count - used
            guard rest > 0 else { return }
            if rest > maxRead {
                finishClose(connection, reason: .readBufferOverflow)
                return
            }
            connection.readBuffer.append(base + used, rest, minimumCapacity: configuration.initialReadBufferSize)
        } else {
            if connection.readBuffer.readableBytes + count > maxRead {
                finishClose(connection, reason: .readBufferOverflow)
                return
            }
            connection.readBuffer.append(base, count, minimumCapacity: configuration.initialReadBufferSize)
            guard connection.readPause.isEmpty else { return }
            presentReadBuffer(connection, handler)
        }
    }

    /// Presents the buffered unread bytes to the handler again (after new bytes were appended, or on resume).
    func presentReadBuffer(_ connection: Connection, _ handler: any ConnectionHandler) {
        let available = connection.readBuffer.readableBytes
        let consumed = handler.connection(connection, didRead: connection.readBuffer.readable)
        guard connection.lifecycle.isOpen else { return }
        connection.readBuffer.consume(Swift.min(Swift.max(consumed, 0), available))
        // Only partial frames need this buffer; idle connections should not keep one.
        connection.readBuffer.shrinkIfEmpty(keep: 0)
    }

    /// The peer sent FIN: flush what is pending (a reply to its last request), then close. While reading is paused,
    /// the FIN waits until the bytes before it were delivered (see ``resumeReading(_:)``).
    func peerClosed(_ connection: Connection) {
        switch connection.lifecycle {
        case .open:
            if !connection.readPause.isEmpty {
                connection.peerClosedWhilePaused = true
            } else if connection.writeBuffer.isEmpty {
                finishClose(connection, reason: .peerClosed)
            } else {
                beginClosing(connection, reason: .peerClosed)
            }
        case .closing(let reason, let timer):
            // Nobody will read what is left; when a close() is pending the peer is gone anyway.
            if reason == nil { connection.lifecycle = .closing(reason: .peerClosed, timer: timer) }
        case .connecting, .closed:
            break
        }
    }

    // MARK: Writing

    func markDirty(_ connection: Connection) {
        if !connection.isDirty {
            connection.isDirty = true
            dirty.append(connection)
        }
        if connection.writeBuffer.readableBytes >= configuration.writeFlushThreshold {
            flush(connection)
        }
    }

    func flushDirty() {
        while !dirty.isEmpty {
            swap(&dirty, &dirtyScratch)
            for connection in dirtyScratch {
                connection.isDirty = false
                flush(connection)
            }
            dirtyScratch.removeAll(keepingCapacity: true)
        }
    }

    /// Hands the pending bytes to the backend (unless a send is still in flight: its completion continues).
    func flush(_ connection: Connection) {
        guard connection.lifecycle.isFlushing, connection.writeBuffer.lent == 0 else { return }
        while !connection.writeBuffer.isEmpty {
            let count = connection.writeBuffer.readableBytes
            let pointer = connection.writeBuffer.readPointer
            let outcome = connection.withDescriptor { io.send(connection.handle, descriptor: $0, pointer, count) }
            switch outcome ?? .failed(EBADF) {
            case .sent(let sent):
                connection.writeBuffer.consume(sent)
            case .inFlight:
                connection.writeBuffer.lend(count)
                return
            case .wouldBlock:
                return
            case .failed(let errno):
                finishClose(connection, reason: .fromErrno(errno))
                return
            }
        }
        connection.didDrainWrites()
    }

    private func sendCompleted(_ connection: Connection, result: Int32) {
        guard connection.writeBuffer.lent > 0 else { return }
        guard connection.lifecycle.isFlushing else {
            connection.writeBuffer.settleLoan(consumed: 0)
            return
        }
        if result < 0 {
            connection.writeBuffer.settleLoan(consumed: 0)
            finishClose(connection, reason: result == -ECANCELED ? .closedLocally : .fromErrno(-result))
            return
        }
        connection.writeBuffer.settleLoan(consumed: Int(result))
        flush(connection)
    }

    // MARK: Closing

    /// Starts flushing before the close, bounded by `closeFlushTimeout`.
    func beginClosing(_ connection: Connection, reason: CloseReason?) {
        connection.lifecycle = .closing(reason: reason, timer: nil)
        markDirty(connection)
        guard case .closing(let current, nil) = connection.lifecycle else { return }
        let timer = schedule(after: configuration.closeFlushTimeout) { [unowned(unsafe) self] in
            self.finishClose(connection, reason: .timedOut)
        }
        connection.lifecycle = .closing(reason: current, timer: timer)
    }

    /// Closes the socket now and queues the `didCloseWith` notification.
    func finishClose(_ connection: Connection, reason: CloseReason) {
        var finalReason = reason
        switch connection.lifecycle {
        case .closed:
            return
        case .connecting:
            failConnect(connection, ReactorError(.stopped, context: "connect \(connection.remoteAddress): closed"))
            return
        case .closing(let closingReason, let timer):
            if reason == .closedLocally, let closingReason { finalReason = closingReason }
            if let timer { timers.cancel(timer) }
        case .open:
            break
        }
        connection.lifecycle = .closed(finalReason)
        teardown(connection)
        closeNotifications.append(connection)
    }

    /// Hands the socket to the backend to close; frees the slot at once when the kernel holds nothing of the
    /// connection, else when the backend reports it ``IOEvent/Kind/released``.
    private func teardown(_ connection: Connection) {
        guard let descriptor = connection.descriptor.take() else { return }
        if io.remove(connection.handle, descriptor: descriptor) { release(connection) }
    }

    /// Frees the connection's slot (no kernel operation references it any more).
    private func release(_ connection: Connection) {
        guard connection.lifecycle.isClosed,
              connections.lookup(slot: connection.slot, generation: connection.handle.generation) === connection
        else { return }
        // A send the kernel finished with may still be lent; its bytes go with the connection.
        if connection.writeBuffer.lent > 0 { connection.writeBuffer.settleLoan(consumed: 0) }
        connections.remove(slot: connection.slot)
    }

    func deliverCloseNotifications() {
        while !closeNotifications.isEmpty {
            swap(&closeNotifications, &closeScratch)
            for connection in closeScratch {
                let handler = connection.handler
                connection.handler = nil
                let reason: CloseReason
                if case .closed(let final) = connection.lifecycle { reason = final } else { reason = .closedLocally }
                handler?.connection(connection, didCloseWith: reason)
            }
            closeScratch.removeAll(keepingCapacity: true)
        }
    }
}
