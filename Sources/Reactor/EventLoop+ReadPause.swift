extension EventLoop {
    /// Stops reading from `connection`: what its peer sends stays in the kernel (TCP flow control then slows the
    /// peer down) and the handler gets no `didRead` until ``resumeReading(_:)``. For back-pressure: a consumer that
    /// cannot keep up (e.g. an accounting store) pauses the producers instead of buffering without bound.
    ///
    /// Nothing is lost: bytes the backend had already taken from the kernel (io_uring completions under way, the
    /// rest of an epoll read batch) are kept in the connection's read buffer (bounded by `maxReadBufferSize` like any
    /// unconsumed bytes) and presented first on resume; a FIN that arrives with them is acted on after they were
    /// delivered. While paused, the loop does not learn that the peer closed (its FIN is read on resume, like any
    /// reader that stopped reading); writing, ``Connection/close()`` and ``Connection/abort()`` work as usual, and a
    /// connection closed while paused is cleaned up like any other. io_uring: the multishot receive is cancelled;
    /// epoll: EPOLLIN/EPOLLRDHUP leave the interest set. Idempotent. Loop-thread only.
    public func pauseReading(_ connection: Connection) {
        assertInLoop()
        pause(connection, .connection)
    }

    /// Resumes reading after ``pauseReading(_:)``: bytes kept while paused are presented to the handler in this loop
    /// iteration (never from inside this call), then reading continues. Has no effect on a connection also held by
    /// ``pauseReadingAll()``, until that is lifted too. Idempotent. Loop-thread only.
    public func resumeReading(_ connection: Connection) {
        assertInLoop()
        resume(connection, .connection)
    }

    /// Pauses reading on every connection of the loop, and on those it opens until ``resumeReadingAll()`` (see
    /// ``pauseReading(_:)``): for a consumer behind everything the loop reads. O(connections). Loop-thread only.
    public func pauseReadingAll() {
        assertInLoop()
        guard !readingPausedLoopWide else { return }
        readingPausedLoopWide = true
        for connection in connections.all { pause(connection, .loop) }
    }

    /// Lifts ``pauseReadingAll()``; connections paused on their own (``pauseReading(_:)``) stay paused.
    /// Loop-thread only.
    public func resumeReadingAll() {
        assertInLoop()
        guard readingPausedLoopWide else { return }
        readingPausedLoopWide = false
        for connection in connections.all { resume(connection, .loop) }
    }

    /// Whether ``pauseReadingAll()`` is in effect.
    public var isReadingPausedLoopWide: Bool { readingPausedLoopWide }

    private func pause(_ connection: Connection, _ reason: Connection.ReadPause) {
        guard !connection.lifecycle.isClosed else { return }
        let wasReading = connection.readPause.isEmpty
        connection.readPause.insert(reason)
        // A connecting socket has no receive yet: connectFinished leaves it paused.
        guard wasReading, !connection.lifecycle.isConnecting else { return }
        _ = connection.withDescriptor { io.stopReading(connection.handle, descriptor: $0) }
    }

    private func resume(_ connection: Connection, _ reason: Connection.ReadPause) {
        guard !connection.lifecycle.isClosed, connection.readPause.contains(reason) else { return }
        connection.readPause.remove(reason)
        guard connection.readPause.isEmpty, !connection.lifecycle.isConnecting else { return }
        startReadingIfWanted(connection)
        guard !connection.readBuffer.isEmpty || connection.peerClosedWhilePaused else { return }
        // Present what was kept (and act on a FIN that came with it) from the loop, not from inside this call, so
        // the handler is never re-entered by its own resume.
        deferred.append { [unowned(unsafe) self] in self.presentKept(connection) }
    }

    /// Starts the backend's reading unless the connection is paused; a failure closes the connection.
    func startReadingIfWanted(_ connection: Connection) {
        guard connection.readPause.isEmpty else { return }
        do throws(ReactorError) {
            _ = try connection.withDescriptor { d throws(ReactorError) in
                try io.startReading(connection.handle, descriptor: d)
            }
        } catch {
            finishClose(connection, reason: .error(error.errno))
        }
    }

    private func presentKept(_ connection: Connection) {
        guard connection.lifecycle.isOpen, connection.readPause.isEmpty else { return }
        if !connection.readBuffer.isEmpty, let handler = connection.handler {
            presentReadBuffer(connection, handler)
        }
        guard connection.peerClosedWhilePaused, connection.readPause.isEmpty else { return }
        connection.peerClosedWhilePaused = false
        peerClosed(connection)
    }
}
