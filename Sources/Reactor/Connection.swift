import CUring
import Glibc

/// One TCP connection owned by an ``EventLoop``. Loop-thread only (see ``EventLoop``).
///
/// Writes are copied into a per-connection buffer and sent once per loop iteration (coalesced), or as
/// soon as the buffer passes `writeFlushThreshold`. Idle connections hold no buffers larger than the
/// initial read size.
public final class Connection {
    /// Unique (per loop) identifier, increasing.
    public let id: UInt64
    /// The peer's address.
    public let remoteAddress: SocketAddress
    unowned(unsafe) let loop: EventLoop
    /// How backends and kernel completions name this connection.
    let handle: IOHandle
    var slot: UInt32 { handle.slot }

    var lifecycle: Lifecycle
    /// The socket; `nil` once it was handed to the backend to close (so no code can name its number afterwards).
    var descriptor: Descriptor?
    var handler: (any ConnectionHandler)?
    // The buffers and the dirty flag are touched for every frame read and every reply written. They are loop-thread
    // state, and no access to them is held across a call that could reach them again (mutating `IOBuffer` methods
    // return before any handler runs; `withWritableBuffer` hands its body a pointer, not the buffer), so the
    // runtime's dynamic exclusivity check (`swift_beginAccess`, a thread-local access set) only cost time per share.
    @exclusivity(unchecked) var readBuffer = IOBuffer()
    @exclusivity(unchecked) var writeBuffer = IOBuffer()
    /// In the loop's list of connections to flush (list membership, not part of the lifecycle).
    @exclusivity(unchecked) var isDirty = false
    /// Why reading is paused, if it is (independent of the lifecycle: an open or closing connection can be paused).
    var readPause: ReadPause = []
    /// The peer's FIN arrived while reading was paused: acted on after the buffered bytes were presented on resume.
    var peerClosedWhilePaused = false

    /// The loop moves the socket in right after (``EventLoop/makeConnection(descriptor:remote:lifecycle:)``).
    init(id: UInt64, remoteAddress: SocketAddress, loop: EventLoop, handle: IOHandle, lifecycle: Lifecycle) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.handle = handle
        self.lifecycle = lifecycle
    }

    deinit {
        readBuffer.deallocate()
        writeBuffer.deallocate()
    }

    /// Runs `body` with the socket while it is open (nil once it was closed).
    @inline(__always)
    func withDescriptor<R, E: Error>(_ body: (borrowing Descriptor) throws(E) -> R) throws(E) -> R? {
        switch descriptor {
        case .some(let descriptor): return try body(descriptor)
        case .none: return nil
        }
    }

    /// Bytes written but not yet handed to the kernel.
    public var pendingWriteBytes: Int { writeBuffer.readableBytes }

    /// Whether the connection is open for writing (not closing or closed).
    public var isOpen: Bool { lifecycle.isOpen }

    /// Whether reading is paused (``EventLoop/pauseReading(_:)`` or ``EventLoop/pauseReadingAll()``).
    public var isReadingPaused: Bool { !readPause.isEmpty }

    /// Copies `bytes` into the write buffer. Returns false when the connection is not open, or when the
    /// write would exceed `maxWriteBufferSize` — the connection is then closed with
    /// ``CloseReason/writeBufferOverflow``.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return isOpen }
        return withWritableBuffer(minimumCapacity: bytes.count) { out in
            out.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return bytes.count
        }
    }

    /// Lets `body` encode straight into the write buffer (at least `minimumCapacity` bytes available);
    /// `body` returns how many bytes it wrote. Same failure rules as ``write(_:)``.
    @discardableResult
    public func withWritableBuffer(minimumCapacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
        loop.assertInLoop()
        guard case .open(.none) = lifecycle else { return false }
        let limit = loop.configuration.maxWriteBufferSize
        if writeBuffer.readableBytes + minimumCapacity > limit {
            loop.finishClose(self, reason: .writeBufferOverflow)
            return false
        }
        writeBuffer.reserve(minimumCapacity, minimumCapacity: loop.writeBufferMinimum)
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
        loop.assertInLoop()
        switch lifecycle {
        case .open:
            if writeBuffer.isEmpty {
                loop.finishClose(self, reason: .closedLocally)
            } else {
                loop.beginClosing(self, reason: nil)
            }
        case .connecting:
            loop.finishClose(self, reason: .closedLocally)
        case .closing, .closed:
            break
        }
    }

    /// Closes immediately; pending writes are dropped.
    public func abort() {
        loop.assertInLoop()
        if !lifecycle.isClosed { loop.finishClose(self, reason: .closedLocally) }
    }

    /// Sends FIN after the pending writes are flushed; reading continues until the peer closes.
    public func shutdownWrite() {
        loop.assertInLoop()
        guard case .open(.none) = lifecycle else { return }
        lifecycle = .open(.requested)
        loop.markDirty(self)
    }

    /// Called by the loop once the write buffer is empty.
    func didDrainWrites() {
        writeBuffer.shrinkIfEmpty(keep: loop.writeBufferMinimum)
        switch lifecycle {
        case .open(.requested):
            lifecycle = .open(.done)
            _ = withDescriptor { cshims_shutdown($0.rawValue, Int32(SHUT_WR)) }
            handler?.connectionDidDrain(self)
        case .open:
            handler?.connectionDidDrain(self)
        case .closing:
            loop.finishClose(self, reason: .closedLocally)
        case .connecting, .closed:
            break
        }
    }
}
