import CUring

/// A listening socket created by ``EventLoop/listen(on:backlog:reusePort:onAccept:)``. Loop-thread only.
public final class Listener {
    /// The bound address (with the real port when listening on port 0).
    public let localAddress: SocketAddress
    unowned(unsafe) let loop: EventLoop
    /// How backends and kernel completions name this listener.
    let handle: IOHandle
    var slot: UInt32 { handle.slot }
    let onAccept: (Connection) -> (any ConnectionHandler)?
    /// The listening socket; `nil` once closed (handed to the backend to close).
    var descriptor: Descriptor?
    /// Accepting is paused after the process ran out of descriptors (EMFILE/ENFILE); a timer resumes it.
    var acceptPaused = false
    /// The current pause in nanoseconds (0 after a successful accept: the next shortage starts small again).
    var acceptBackoff: UInt64 = 0
    /// How many times accepting was paused for lack of descriptors or memory.
    public internal(set) var acceptPauses = 0

    init(localAddress: SocketAddress, loop: EventLoop, handle: IOHandle,
         onAccept: @escaping (Connection) -> (any ConnectionHandler)?) {
        self.localAddress = localAddress
        self.loop = loop
        self.handle = handle
        self.onAccept = onAccept
    }

    /// Whether ``close()`` was called (or the loop stopped).
    var isClosed: Bool {
        switch descriptor {
        case .some: false
        case .none: true
        }
    }

    /// Stops accepting; already accepted connections stay open.
    public func close() {
        loop.assertInLoop()
        loop.closeListener(self)
    }
}
