import CUring

/// A listening socket created by ``EventLoop/listen(on:backlog:onAccept:)``. Loop-thread only.
public final class Listener {
    /// The bound address (with the real port when listening on port 0).
    public let localAddress: SocketAddress
    unowned(unsafe) let loop: EventLoop
    let fd: Int32
    let slot: UInt32
    let generation: UInt32
    let onAccept: (Connection) -> (any ConnectionHandler)?
    var isClosed = false
    /// Accepting is paused after the process ran out of descriptors (EMFILE/ENFILE); a timer resumes it.
    var acceptPaused = false
    /// The current pause in nanoseconds (0 after a successful accept: the next shortage starts small again).
    var acceptBackoff: UInt64 = 0
    /// io_uring: a multishot accept is armed in the kernel.
    var acceptArmed = false
    /// How many times accepting was paused for lack of descriptors or memory.
    public internal(set) var acceptPauses = 0

    init(fd: Int32, localAddress: SocketAddress, loop: EventLoop, slot: UInt32, generation: UInt32,
         onAccept: @escaping (Connection) -> (any ConnectionHandler)?) {
        self.fd = fd
        self.localAddress = localAddress
        self.loop = loop
        self.slot = slot
        self.generation = generation
        self.onAccept = onAccept
    }

    /// Stops accepting; already accepted connections stay open.
    public func close() {
        loop.closeListener(self)
    }
}
