/// The backend an ``EventLoop`` runs on.
///
/// Why an enum and not a generic `EventLoop<B: IOBackend>` or an `any IOBackend`: `EventLoop` is a public,
/// non-generic type every module and app names; making it generic would make every service generic over the
/// backend for no gain (a process picks its backend at run time). An existential would put a witness-table call
/// (no inlining) on the share path, which the project rules out. This enum is the one place that knows which
/// backends exist: each forwarding method below is a two-case switch calling the same ``IOBackend`` requirement
/// on the concrete type (specialised and inlinable), so no backend can be handled asymmetrically and no other
/// code of the loop switches on the backend. Adding a backend is one case here.
enum Backend {
    case uring(UringBackend)
    case epoll(EpollBackend)

    @inline(__always) func start() throws(ReactorError) {
        switch self {
        case .uring(let b): try b.start()
        case .epoll(let b): try b.start()
        }
    }

    /// What the backend did so far.
    var counters: BackendCounters {
        switch self {
        case .uring(let b): b.counters
        case .epoll(let b): b.counters
        }
    }

    @inline(__always) func destroy() {
        switch self {
        case .uring(let b): b.destroy()
        case .epoll(let b): b.destroy()
        }
    }

    @inline(__always) func wait(timeoutNanoseconds: UInt64?, into events: inout IOEventBuffer) throws(ReactorError) {
        switch self {
        case .uring(let b): try b.wait(timeoutNanoseconds: timeoutNanoseconds, into: &events)
        case .epoll(let b): try b.wait(timeoutNanoseconds: timeoutNanoseconds, into: &events)
        }
    }

    @inline(__always) func submitPending() {
        switch self {
        case .uring(let b): b.submitPending()
        case .epoll(let b): b.submitPending()
        }
    }

    @inline(__always) func addListener(_ h: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        switch self {
        case .uring(let b): try b.addListener(h, descriptor: descriptor)
        case .epoll(let b): try b.addListener(h, descriptor: descriptor)
        }
    }

    @inline(__always) func setAccepting(_ h: IOHandle, descriptor: borrowing Descriptor, _ accepting: Bool) {
        switch self {
        case .uring(let b): b.setAccepting(h, descriptor: descriptor, accepting)
        case .epoll(let b): b.setAccepting(h, descriptor: descriptor, accepting)
        }
    }

    @inline(__always) func removeListener(_ h: IOHandle, descriptor: consuming Descriptor) {
        switch self {
        case .uring(let b): b.removeListener(h, descriptor: descriptor)
        case .epoll(let b): b.removeListener(h, descriptor: descriptor)
        }
    }

    @inline(__always) func connect(_ h: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        switch self {
        case .uring(let b): try b.connect(h, descriptor: descriptor)
        case .epoll(let b): try b.connect(h, descriptor: descriptor)
        }
    }

    @inline(__always) func startReading(_ h: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        switch self {
        case .uring(let b): try b.startReading(h, descriptor: descriptor)
        case .epoll(let b): try b.startReading(h, descriptor: descriptor)
        }
    }

    @inline(__always) func stopReading(_ h: IOHandle, descriptor: borrowing Descriptor) {
        switch self {
        case .uring(let b): b.stopReading(h, descriptor: descriptor)
        case .epoll(let b): b.stopReading(h, descriptor: descriptor)
        }
    }

    @inline(__always) func send(_ h: IOHandle, descriptor: borrowing Descriptor, _ bytes: UnsafeRawPointer,
                                _ count: Int) -> SendOutcome {
        switch self {
        case .uring(let b): b.send(h, descriptor: descriptor, bytes, count)
        case .epoll(let b): b.send(h, descriptor: descriptor, bytes, count)
        }
    }

    @inline(__always) func remove(_ h: IOHandle, descriptor: consuming Descriptor) -> Bool {
        switch self {
        case .uring(let b): b.remove(h, descriptor: descriptor)
        case .epoll(let b): b.remove(h, descriptor: descriptor)
        }
    }
}
