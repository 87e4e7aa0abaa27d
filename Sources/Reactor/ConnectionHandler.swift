/// Receives a ``Connection``'s events. All methods are called on the connection's loop thread.
public protocol ConnectionHandler: AnyObject {
    /// Unread bytes, contiguous, MUTABLE (owners decrypt in place). Return how many were consumed; the rest
    /// stays and is presented again (with new bytes appended) on the next read.
    ///
    /// The buffer is only valid during the call. It may point into a kernel-provided receive buffer, so
    /// never keep the pointer.
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int

    /// The write queue became empty (everything written so far was handed to the kernel). Default: no-op.
    func connectionDidDrain(_ connection: Connection)

    /// The connection is closed; called exactly once, never re-entrantly from inside `close()`, `abort()`
    /// or `write(_:)`. The loop drops its reference to the handler afterwards.
    func connection(_ connection: Connection, didCloseWith reason: CloseReason)
}

extension ConnectionHandler {
    /// Default: nothing to do when the write queue drains.
    public func connectionDidDrain(_ connection: Connection) {}
}
