import Synchronization

/// Which handler call of one service is running, so a context can tell whether it is still valid.
///
/// A context (``Sv2ServerContext``, ``Sv2ClientContext``) refers to its connection without retaining it (no
/// reference counting per frame), so one kept past its handler call could reach a connection that no longer exists.
/// Every context carries the number of the call it was made for; each use compares it with the number of the call
/// now running, read from a cell no context outlives: cells come from a process-wide pool and are never freed, a
/// service returns its cell when it is deinitialised and numbers never repeat, so a stale context sees a mismatch
/// even after its service is gone. Per handler call this costs an increment and two stores; per use, a compare.
///
/// Loop thread only, like the service that owns it.
struct Sv2HandlerCalls {
    /// The cell of one service.
    struct Cell {
        /// The call now running (0: none).
        var current: UInt64 = 0
        /// The last number handed out; numbers only grow, across every service that ever held the cell.
        var last: UInt64 = 0
        /// Whether a stale context traps (debug builds) or only fails safely (release builds; tests of that path).
        var trapsOnMisuse = _isDebugAssertConfiguration()
    }

    /// One handler call: its number, and the call it interrupted (restored when it ends, so a nested call does not
    /// end its caller's).
    struct Call {
        let number: UInt64
        fileprivate let interrupted: UInt64
    }

    /// What a context holds: its call's number and where to find the running one.
    struct Token {
        let cell: UnsafeMutablePointer<Cell>
        let number: UInt64

        /// Whether the call this token was made for is still running.
        @inline(__always) var isCurrent: Bool { cell.pointee.current == number }

        /// The failure of a throwing use of an expired context: a trap with `message` when the cell traps (debug
        /// builds), otherwise ``Sv2ServiceError/contextExpired``. Nothing of the connection is touched.
        @inline(never)
        func expired(_ message: StaticString) -> Sv2ServiceError {
            if cell.pointee.trapsOnMisuse { preconditionFailure("\(message)") }
            return .contextExpired
        }

        /// Stops a use of an expired context that cannot throw (an accessor), in every build: a trap, before
        /// anything of the connection is touched.
        @inline(never)
        func trap(_ message: StaticString) -> Never { preconditionFailure("\(message)") }
    }

    let cell: UnsafeMutablePointer<Cell>

    init() { cell = Self.lease() }

    /// Marks a handler call as running; pair with ``end(_:)`` (in a `defer`).
    @inline(__always)
    func begin() -> Call {
        let interrupted = cell.pointee.current
        cell.pointee.last &+= 1
        cell.pointee.current = cell.pointee.last
        return Call(number: cell.pointee.last, interrupted: interrupted)
    }

    /// Marks `call` as ended: contexts made for it are expired from now on.
    @inline(__always)
    func end(_ call: Call) { cell.pointee.current = call.interrupted }

    /// The token a context made during `call` holds.
    @inline(__always)
    func token(_ call: Call) -> Token { Token(cell: cell, number: call.number) }

    /// Gives the cell back to the pool (the owning service is being deinitialised).
    func release() {
        cell.pointee.current = 0
        cell.pointee.trapsOnMisuse = _isDebugAssertConfiguration()
        let address = UInt(bitPattern: cell)
        Self.free.withLock { $0.append(address) }
    }

    /// Cells given back, by address (never deallocated: a stale context may still read one). The pool holds at
    /// most as many cells as services were ever alive at once.
    private static let free = Mutex<[UInt]>([])

    private static func lease() -> UnsafeMutablePointer<Cell> {
        if let address = free.withLock({ $0.popLast() }), let cell = UnsafeMutablePointer<Cell>(bitPattern: address) {
            return cell
        }
        let cell = UnsafeMutablePointer<Cell>.allocate(capacity: 1)
        cell.initialize(to: Cell())
        return cell
    }
}
