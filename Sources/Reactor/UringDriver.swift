import CUring
import Glibc

/// io_uring backend: multishot accept, multishot recv into a provided-buffer ring (idle connections
/// hold no receive buffer), one send in flight per connection, eventfd read for cross-thread wakeups.
/// Everything queued during an iteration is submitted by the single `io_uring_enter` that also waits.
final class UringDriver {
    unowned(unsafe) var loop: EventLoop!
    private let ring: OpaquePointer
    private let completions: UnsafeMutablePointer<cshims_cqe>
    private let completionCapacity = 512
    private let wakeBuffer: UnsafeMutablePointer<UInt64>
    private var wakeFD: Int32 = -1
    private let bufferSize: Int
    /// Descriptors of torn-down connections, closed once no prepared SQE can still name their numbers.
    private var descriptorsToClose: [Int32] = []

    private static let cqeFlagBuffer = UInt32(CSHIMS_CQE_F_BUFFER)
    private static let cqeFlagMore = UInt32(CSHIMS_CQE_F_MORE)
    private static let bufferShift = UInt32(CSHIMS_CQE_BUFFER_SHIFT)

    init(configuration: EventLoopConfiguration) throws(ReactorError) {
        var count = 8
        while count < configuration.ioUringBufferCount { count <<= 1 }
        var entries = 64
        while entries < configuration.ioUringEntries { entries <<= 1 }
        var error: Int32 = 0
        guard let ring = cshims_uring_create(UInt32(entries), UInt32(count), UInt32(configuration.receiveChunkSize), &error)
        else { throw .system(-error, "io_uring setup") }
        self.ring = ring
        bufferSize = configuration.receiveChunkSize
        completions = .allocate(capacity: completionCapacity)
        wakeBuffer = .allocate(capacity: 1)
    }

    func destroy() {
        for fd in descriptorsToClose { _ = cshims_close(fd) }
        descriptorsToClose.removeAll()
        cshims_uring_destroy(ring)
        completions.deallocate()
        wakeBuffer.deallocate()
    }

    /// Enables the ring on the loop thread (its single issuer) and arms the wakeup read.
    func start(wakeFD: Int32) throws(ReactorError) {
        let result = cshims_uring_enable(ring)
        // -EBADFD: already enabled by an earlier run().
        guard result == 0 || result == -EBADFD else { throw .system(-result, "io_uring enable") }
        if self.wakeFD < 0 {
            self.wakeFD = wakeFD
            armWake()
        }
    }

    private func armWake() {
        _ = cshims_uring_prep_read(ring, wakeFD, wakeBuffer, 8, Token(.wake, generation: 0, slot: 0).raw)
    }

    func register(_ listener: Listener) throws(ReactorError) {
        let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
        let result = cshims_uring_prep_accept_multishot(ring, listener.fd, token)
        guard result == 0 else { throw .system(-result, "io_uring accept \(listener.localAddress)") }
        listener.acceptArmed = true
    }

    /// Re-arms accepting after a pause for lack of descriptors (see ``EventLoop/acceptFailed(_:errno:)``).
    func resumeAccepting(_ listener: Listener) {
        guard !listener.acceptArmed, !listener.isClosed else { return }
        try? register(listener)
    }

    func unregister(_ listener: Listener) {
        let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
        _ = cshims_uring_prep_cancel(ring, token, Token(.cancel, generation: 0, slot: 0).raw)
    }

    func startReading(_ connection: Connection) throws(ReactorError) {
        // Never name a closed descriptor: its number may already belong to another socket of this process.
        guard !connection.fdClosed else { return }
        let token = Token(.receive, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_uring_prep_recv_multishot(ring, connection.fd, token)
        guard result == 0 else { throw .system(-result, "io_uring recv") }
        connection.pendingOperations += 1
    }

    func startConnecting(_ connection: Connection) throws(ReactorError) {
        let token = Token(.connect, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_uring_prep_poll(ring, connection.fd, UInt32(POLLOUT), token)
        guard result == 0 else { throw .system(-result, "io_uring poll connect") }
        connection.pendingOperations += 1
    }

    /// Queues one send of everything pending, unless a send is already in flight (its completion continues).
    func flush(_ connection: Connection) {
        guard connection.sendInFlight == 0, !connection.fdClosed else { return }
        guard !connection.writeBuffer.isEmpty else {
            connection.didDrainWrites()
            return
        }
        let count = connection.writeBuffer.readableBytes
        let token = Token(.send, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_uring_prep_send(ring, connection.fd, connection.writeBuffer.readPointer, count, token)
        guard result == 0 else {
            loop.finishClose(connection, reason: .error(-result))
            return
        }
        connection.sendInFlight = count
        connection.pendingOperations += 1
    }

    func teardown(_ connection: Connection) {
        guard !connection.fdClosed else { return }
        connection.fdClosed = true
        if connection.pendingOperations > 0 {
            // Completes the multishot recv (EOF) and any blocked send; the cancel covers a pending poll.
            _ = cshims_shutdown(connection.fd, Int32(SHUT_RDWR))
            let cancel = Token(.cancel, generation: 0, slot: 0).raw
            _ = cshims_uring_prep_cancel(ring, Token(.receive, generation: connection.generation, slot: connection.slot).raw, cancel)
            _ = cshims_uring_prep_cancel(ring, Token(.connect, generation: connection.generation, slot: connection.slot).raw, cancel)
        }
        // Prepared-but-unsubmitted SQEs name the descriptor by number: the kernel resolves it at submission. The number
        // must keep meaning this socket until every SQE prepared so far is in the kernel — after close() it could name
        // a socket accepted a moment later. Usually the submit below takes them all and the descriptor goes at once;
        // when it cannot (a full completion queue makes io_uring_enter refuse with EBUSY/EAGAIN), it goes after the
        // loop's next successful submission instead of silently risking a stale request on a new connection.
        descriptorsToClose.append(connection.fd)
        closeDescriptorsOnceSubmitted()
    }

    /// Submits what is prepared and, when nothing is left unsubmitted, closes the descriptors waiting for that.
    /// In-flight requests hold their own file reference, so closing does not disturb them.
    private func closeDescriptorsOnceSubmitted() {
        _ = cshims_uring_submit(ring)
        guard cshims_uring_unsubmitted(ring) == 0 else { return }
        for fd in descriptorsToClose { _ = cshims_close(fd) }
        descriptorsToClose.removeAll(keepingCapacity: true)
    }

    func wait(timeoutNanoseconds: UInt64?) throws(ReactorError) {
        let timeout = timeoutNanoseconds.map { Int64(clamping: Swift.max($0, 1)) } ?? -1
        let result = cshims_uring_submit_and_wait(ring, timeout)
        guard result == 0 else { throw .system(-result, "io_uring_enter") }
        if !descriptorsToClose.isEmpty { closeDescriptorsOnceSubmitted() }
        loop.refreshNow()
        while true {
            let count = Int(cshims_uring_reap(ring, completions, UInt32(completionCapacity)))
            for i in 0..<count { dispatch(completions[i]) }
            if count < completionCapacity { break }
        }
    }

    private func dispatch(_ cqe: cshims_cqe) {
        guard let token = Token(cqe.user_data) else { return }
        let more = cqe.flags & Self.cqeFlagMore != 0
        switch token.kind {
        case .wake:
            armWake()
        case .listener:
            guard let listener = loop.listeners.lookup(slot: token.slot, generation: token.generation),
                  !listener.isClosed
            else {
                if cqe.res >= 0 { _ = cshims_close(cqe.res) }
                return
            }
            // A multishot accept ends with its first error (EMFILE included): re-arming at once would fail at once,
            // so after a descriptor shortage the loop re-arms from its backoff timer instead.
            if !more { listener.acceptArmed = false }
            if cqe.res >= 0 {
                loop.accepted(cqe.res, on: listener)
            } else if cqe.res != -ECANCELED {
                _ = loop.acceptFailed(listener, errno: -cqe.res)
            }
            if !more && !listener.isClosed && !listener.acceptPaused { try? register(listener) }
        case .receive:
            receive(cqe, token: token, more: more)
        case .send:
            guard let connection = loop.connections.lookup(slot: token.slot, generation: token.generation) else { return }
            sendCompleted(connection, result: cqe.res)
        case .connect:
            guard let connection = loop.connections.lookup(slot: token.slot, generation: token.generation) else { return }
            connection.pendingOperations -= 1
            if connection.state == .connecting {
                let error = cqe.res < 0 ? -cqe.res : cshims_socket_error(connection.fd)
                loop.connectFinished(connection, error: error)
            }
            loop.releaseIfDone(connection)
        case .cancel:
            break
        }
    }

    private func receive(_ cqe: cshims_cqe, token: Token, more: Bool) {
        let hasBuffer = cqe.flags & Self.cqeFlagBuffer != 0
        let bufferID = cqe.flags >> Self.bufferShift
        defer { if hasBuffer { cshims_uring_recycle_buffer(ring, bufferID) } }
        guard let connection = loop.connections.lookup(slot: token.slot, generation: token.generation) else { return }
        var rearm = false
        if cqe.res > 0 {
            if hasBuffer { loop.deliver(connection, cshims_uring_buffer(ring, bufferID), Int(cqe.res)) }
            rearm = true
        } else if cqe.res == 0 {
            loop.peerClosed(connection)
        } else if cqe.res == -ENOBUFS {
            // All provided buffers were in use; the recycled ones are published on the next submit.
            rearm = true
        } else if cqe.res != -ECANCELED {
            loop.finishClose(connection, reason: .fromErrno(-cqe.res))
        }
        guard !more else { return }
        connection.pendingOperations -= 1
        if rearm, connection.state == .open || connection.state == .closing {
            // A connection left without a receive would never read again: a silent stall its peer only notices by
            // timing out. Close it, with the reason, instead.
            do throws(ReactorError) { try startReading(connection) } catch {
                loop.warnLimited("io_uring: cannot re-arm a receive", metadata: ["errno": "\(error.errno)"])
                loop.finishClose(connection, reason: .error(error.errno))
            }
        }
        loop.releaseIfDone(connection)
    }

    private func sendCompleted(_ connection: Connection, result: Int32) {
        connection.pendingOperations -= 1
        let sent = connection.sendInFlight
        connection.sendInFlight = 0
        free(connection.retiredWriteStorage)
        connection.retiredWriteStorage = nil
        guard connection.state == .open || connection.state == .closing else {
            loop.releaseIfDone(connection)
            return
        }
        if result < 0 {
            loop.finishClose(connection, reason: result == -ECANCELED ? .closedLocally : .fromErrno(-result))
            loop.releaseIfDone(connection)
            return
        }
        connection.writeBuffer.consume(Swift.min(Int(result), sent))
        flush(connection)
    }
}
