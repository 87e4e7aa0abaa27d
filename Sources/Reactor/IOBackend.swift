/// A kernel interface an ``EventLoop`` drives its sockets with. Backends only do I/O: they never call the loop and
/// never touch a ``Connection``. The loop names its objects by ``IOHandle`` and lends descriptors for each call
/// (`borrowing`); a backend keeps its own per-object bookkeeping (armed requests, interest masks, operations in
/// flight) in tables of its own, indexed by slot, and reports what happened as ``IOEvent``s in the buffer the loop
/// passes to ``wait(timeoutNanoseconds:into:)``.
///
/// Descriptors are closed by the backend once the loop hands them over (``remove(_:descriptor:)``,
/// ``removeListener(_:descriptor:)``): only the backend knows when no prepared request names the number any more.
protocol IOBackend: AnyObject {
    /// Prepares the backend on the loop thread (the thread that will call ``wait(timeoutNanoseconds:into:)``).
    func start() throws(ReactorError)
    /// Releases kernel resources; closes descriptors still waiting to be closed. The backend is unusable afterwards.
    func destroy()
    /// Submits what was requested since the last call, waits up to `timeoutNanoseconds` (nil: no limit, 0: not at
    /// all) for I/O and appends what happened to `events`. Pointers in the events stay valid until the next `wait`.
    func wait(timeoutNanoseconds: UInt64?, into events: inout IOEventBuffer) throws(ReactorError)

    /// Hands requests prepared since the last `wait` to the kernel now, without waiting (the loop sends replies
    /// already written before it handles accepted connections). Backends that act at once have nothing to do.
    func submitPending()

    /// Starts accepting on a listening socket.
    func addListener(_ listener: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError)
    /// Pauses (false) or resumes (true) accepting on a listener.
    func setAccepting(_ listener: IOHandle, descriptor: borrowing Descriptor, _ accepting: Bool)
    /// Stops accepting and closes the listening socket when no request names it any more.
    func removeListener(_ listener: IOHandle, descriptor: consuming Descriptor)

    /// Watches a socket whose non-blocking connect is in progress; a ``IOEvent/Kind/connected`` event follows.
    func connect(_ connection: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError)
    /// Starts, or resumes after ``stopReading(_:descriptor:)``, reporting received bytes of a connection.
    func startReading(_ connection: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError)
    /// Stops reading from a connection's socket: what the peer sends stays in the kernel (bytes already received
    /// may still be reported as events of the current or next `wait`).
    func stopReading(_ connection: IOHandle, descriptor: borrowing Descriptor)
    /// Sends `count` bytes at `bytes` (see ``SendOutcome``). At most one send of a connection is in flight.
    func send(_ connection: IOHandle, descriptor: borrowing Descriptor, _ bytes: UnsafeRawPointer, _ count: Int)
        -> SendOutcome
    /// Forgets a connection and closes its socket when safe. Returns true when nothing references the connection
    /// any more; otherwise a ``IOEvent/Kind/released`` event follows once the kernel let go of it.
    func remove(_ connection: IOHandle, descriptor: consuming Descriptor) -> Bool
}
