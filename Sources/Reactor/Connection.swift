import CUring
import Glibc

/// One TCP connection owned by an ``EventLoop``. Loop-thread only (see ``EventLoop``).
///
/// Writes are copied into a per-connection buffer and sent once per loop iteration (coalesced), or as
/// soon as the buffer passes `writeFlushThreshold`. Idle connections hold no buffers larger than the
/// initial read size.
public final class Connection {
    enum State { case connecting, open, closing, closed }

    /// Unique (per loop) identifier, increasing.
    public let id: UInt64
    /// The peer's address.
    public let remoteAddress: SocketAddress
    unowned(unsafe) let loop: EventLoop
    let fd: Int32
    let slot: UInt32
    let generation: UInt32

    var state: State
    var handler: (any ConnectionHandler)?
    var readBuffer = IOBuffer()
    var writeBuffer = IOBuffer()
    /// In the loop's list of connections to flush.
    var isDirty = false
    var writeShutdownRequested = false
    var writeShutdownDone = false
    var closeReason: CloseReason?
    var closeTimer: TimerHandle?
    var connectCompletion: ((Result<Connection, ReactorError>) -> Void)?
    var connectTimer: TimerHandle?

    // Backend bookkeeping.
    /// Kernel operations (io_uring) that still reference this connection or its buffers.
    var pendingOperations = 0
    /// Bytes of `writeBuffer` currently being sent by io_uring (the storage is pinned meanwhile).
    var sendInFlight = 0
    /// Old write storage replaced while a send was in flight; freed when the send completes.
    var retiredWriteStorage: UnsafeMutableRawPointer?
    /// epoll: EPOLLOUT currently requested.
    var wantsWritable = false
    var fdClosed = false

    init(id: UInt64, fd: Int32, remoteAddress: SocketAddress, loop: EventLoop, slot: UInt32, generation: UInt32,
         state: State) {
        self.id = id
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.slot = slot
        self.generation = generation
        self.state = state
    }

    deinit {
        readBuffer.deallocate()
        writeBuffer.deallocate()
        free(retiredWriteStorage)
    }

    /// Bytes written but not yet handed to the kernel.
    public var pendingWriteBytes: Int { writeBuffer.readableBytes }

    /// Whether the connection is open for writing (not closing or closed).
    public var isOpen: Bool { state == .open }

    /// Copies `bytes` into the write buffer. Returns false when the connection is not open, or when the
    /// write would exceed `maxWriteBufferSize` — the connection is then closed with
    /// ``CloseReason/writeBufferOverflow``.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return state == .open }
        return withWritableBuffer(minimumCapacity: bytes.count) { out in
            out.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return bytes.count
        }
    }

    /// Lets `body` encode straight into the write buffer (at least `minimumCapacity` bytes available);
    /// `body` returns how many bytes it wrote. Same failure rules as ``write(_:)``.
    @discardableResult
    public func withWritableBuffer(minimumCapacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
        guard state == .open, !writeShutdownRequested else { return false }
        let limit = loop.configuration.maxWriteBufferSize
        if writeBuffer.readableBytes + minimumCapacity > limit {
            loop.finishClose(self, reason: .writeBufferOverflow)
            return false
        }
        let retired = writeBuffer.reserve(minimumCapacity, minimumCapacity: loop.writeBufferMinimum,
                                          pinned: sendInFlight > 0)
        if let retired {
            // The in-flight send reads from the block that was current when it was queued. Keep that one;
            // blocks that became current later were never handed to the kernel and can go right away.
            if retiredWriteStorage == nil { retiredWriteStorage = retired } else { free(retired) }
        }
        let space = writeBuffer.writable
        let written = body(UnsafeMutableRawBufferPointer(rebasing: space[0..<Swift.min(space.count, limit - writeBuffer.readableBytes)]))
        guard written > 0 else { return true }
        writeBuffer.commit(written)
        loop.markDirty(self)
        return true
    }

    /// Flushes pending writes (bounded by `closeFlushTimeout`), then closes. Incoming bytes are dropped
    /// from now on. No-op when already closing or closed.
    public func close() {
        switch state {
        case .open:
            if writeBuffer.isEmpty && sendInFlight == 0 {
                loop.finishClose(self, reason: .closedLocally)
            } else {
                state = .closing
                loop.markDirty(self)
                closeTimer = loop.schedule(after: loop.configuration.closeFlushTimeout) { [unowned(unsafe) self] in
                    self.closeTimer = nil
                    self.loop.finishClose(self, reason: .timedOut)
                }
            }
        case .connecting:
            loop.finishClose(self, reason: .closedLocally)
        case .closing, .closed:
            break
        }
    }

    /// Closes immediately; pending writes are dropped.
    public func abort() {
        if state != .closed { loop.finishClose(self, reason: .closedLocally) }
    }

    /// Sends FIN after the pending writes are flushed; reading continues until the peer closes.
    public func shutdownWrite() {
        guard state == .open, !writeShutdownRequested else { return }
        writeShutdownRequested = true
        loop.markDirty(self)
    }

    /// Called by the loop once the write buffer is empty.
    func didDrainWrites() {
        writeBuffer.shrinkIfEmpty(keep: loop.writeBufferMinimum)
        if writeShutdownRequested && !writeShutdownDone {
            writeShutdownDone = true
            _ = cshims_shutdown(fd, Int32(SHUT_WR))
        }
        if state == .closing {
            loop.finishClose(self, reason: .closedLocally)
            return
        }
        if state == .open { handler?.connectionDidDrain(self) }
    }
}
