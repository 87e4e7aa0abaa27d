/// Names a loop object (listener or connection) to a backend: its slot in the loop's table and the slot's generation,
/// so that a late completion for a freed slot never reaches the object that reuses it (see ``Token``).
struct IOHandle: Equatable {
    var slot: UInt32
    var generation: UInt32
}

/// Something a backend's ``IOBackend/wait(timeoutNanoseconds:into:)`` reports to the loop. Plain data: the loop
/// decides what it means for its objects (as redis' `aeApiPoll` fills `fired[]`, or TigerBeetle posts completions).
struct IOEvent {
    enum Kind: UInt8 {
        /// Listener `handle` accepted a socket: `result` is its descriptor number (the loop adopts it at once), or
        /// `-errno` when accepting failed (cancellations are not reported).
        case accepted
        /// Connection `handle` received `result` (> 0) bytes at `bytes`, valid until the next `wait`.
        case received
        /// Reading on connection `handle` ended: `result` is 0 for the peer's FIN, `-errno` for an error.
        case readEnded
        /// A send the backend answered with ``SendOutcome/inFlight`` completed: `result` bytes went out, or `-errno`.
        case sent
        /// A send answered with ``SendOutcome/wouldBlock`` can be retried: the socket has room again.
        case writable
        /// The connect attempt of connection `handle` finished; `result` is `-errno` when the backend already knows
        /// it failed, otherwise the loop reads `SO_ERROR`.
        case connected
        /// The backend no longer references connection `handle` (after ``IOBackend/remove(_:descriptor:)``
        /// answered false): its slot and buffers may go.
        case released
    }

    var kind: Kind
    var handle: IOHandle
    var result: Int32
    var bytes: UnsafeMutableRawPointer?
}

/// The fixed-capacity event array a loop owns and hands to its backend's `wait`. Backends stop producing (and keep
/// the rest for the next `wait`) when it is full.
struct IOEventBuffer: ~Copyable {
    private let storage: UnsafeMutablePointer<IOEvent>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    var room: Int { capacity - count }
    var isFull: Bool { count == capacity }

    subscript(index: Int) -> IOEvent {
        precondition(index >= 0 && index < count, "IOEventBuffer: index out of range")
        return storage[index]
    }

    /// Appends an event; the caller checked ``room`` (a full buffer is a backend bug).
    mutating func append(_ kind: IOEvent.Kind, _ handle: IOHandle, result: Int32, bytes: UnsafeMutableRawPointer? = nil) {
        precondition(count < capacity, "IOEventBuffer: full")
        (storage + count).initialize(to: IOEvent(kind: kind, handle: handle, result: result, bytes: bytes))
        count += 1
    }

    mutating func removeAll() { count = 0 }
}

/// What a backend did with a send request.
enum SendOutcome {
    /// Sent this many bytes now (possibly fewer than asked: call again with the rest).
    case sent(Int)
    /// The kernel sends the bytes asynchronously and reads them until a ``IOEvent/Kind/sent`` event: the storage
    /// must stay where it is until then.
    case inFlight
    /// The socket is full; a ``IOEvent/Kind/writable`` event follows when it has room.
    case wouldBlock
    /// The send failed with this `errno`.
    case failed(Int32)
}
