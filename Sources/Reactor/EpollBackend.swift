import CUring
import Glibc

/// Edge-triggered epoll backend. `wait` does the reads itself (like TigerBeetle's readiness backends) into an arena
/// of a few receive chunks that is reused every wait, and reports the bytes as events; a connection only keeps the
/// leftover of a partial frame (see ``EventLoop``'s `deliver`). A socket that still has data when the arena or the
/// event buffer is full is read again by the next wait, which then does not block.
final class EpollBackend: IOBackend {
    let epollFD: Int32
    private let wakeFD: Int32
    private let readyEvents: UnsafeMutablePointer<cshims_epoll_event>
    private let readyCapacity = 256
    private let arena: UnsafeMutableRawPointer
    private let arenaSize: Int
    private let chunkSize: Int
    private var arenaUsed = 0
    /// Connections that may still have unread data (edge-triggered: no new edge will say so).
    private var readAgain: [IOHandle] = []
    private var readAgainScratch: [IOHandle] = []
    /// What this backend did (see ``BackendCounters``).
    private(set) var counters = BackendCounters()

    /// Per-connection interest (indexed by slot; a slot belongs to one connection until it is released).
    private struct ConnectionState {
        var generation: UInt32 = 0
        /// The socket's number, valid until ``remove(_:descriptor:)`` (which closes it).
        var fd: Int32 = -1
        var registered = false
        var connecting = false
        var reading = false
        /// EPOLLOUT requested after a send found the socket full.
        var wantsWritable = false
        var live = false
    }
    private var connections: [ConnectionState] = []

    private struct ListenerState {
        var generation: UInt32 = 0
        var fd: Int32 = -1
        var accepting = false
        var live = false
    }
    private var listeners: [ListenerState] = []

    private static let readEvents = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
    private static let writeEvent = UInt32(EPOLLOUT.rawValue)
    private static let edgeTriggered = UInt32(EPOLLET.rawValue)

    init(configuration: EventLoopConfiguration, wakeFD: Int32) throws(ReactorError) {
        let fd = cshims_epoll_create()
        guard fd >= 0 else { throw .system(-fd, "epoll_create1") }
        let result = cshims_epoll_ctl(fd, EPOLL_CTL_ADD, wakeFD, UInt32(EPOLLIN.rawValue),
                                      Token(.wake, generation: 0, slot: 0).raw)
        guard result == 0 else {
            _ = cshims_close(fd)
            throw .system(-result, "epoll_ctl add eventfd")
        }
        epollFD = fd
        self.wakeFD = wakeFD
        readyEvents = .allocate(capacity: readyCapacity)
        chunkSize = Swift.max(configuration.receiveChunkSize, 64 * 1024)
        arenaSize = 4 * chunkSize
        arena = .allocate(byteCount: arenaSize, alignment: 16)
    }

    func start() throws(ReactorError) {}

    /// Sends, interest changes and accepts happen in the calls themselves: nothing is ever pending.
    func submitPending() {}

    func destroy() {
        _ = cshims_close(epollFD)
        readyEvents.deallocate()
        arena.deallocate()
    }

    // MARK: Listeners

    func addListener(_ listener: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        let slot = Int(listener.slot)
        while listeners.count <= slot { listeners.append(ListenerState()) }
        let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
        let result = cshims_epoll_ctl(epollFD, EPOLL_CTL_ADD, descriptor.rawValue, UInt32(EPOLLIN.rawValue), token)
        guard result == 0 else { throw .system(-result, "epoll_ctl add listener") }
        listeners[slot] = ListenerState(generation: listener.generation, fd: descriptor.rawValue, accepting: true,
                                        live: true)
    }

    /// Level-triggered: a listener left armed while descriptors are exhausted would wake every iteration, so a
    /// pause removes its interest.
    func setAccepting(_ listener: IOHandle, descriptor: borrowing Descriptor, _ accepting: Bool) {
        guard let slot = liveListener(listener), listeners[slot].accepting != accepting else { return }
        listeners[slot].accepting = accepting
        let token = Token(.listener, generation: listener.generation, slot: listener.slot).raw
        _ = cshims_epoll_ctl(epollFD, EPOLL_CTL_MOD, descriptor.rawValue,
                             accepting ? UInt32(EPOLLIN.rawValue) : 0, token)
    }

    func removeListener(_ listener: IOHandle, descriptor: consuming Descriptor) {
        if let slot = liveListener(listener) { listeners[slot] = ListenerState() }
        // close() also removes the socket from the epoll set (we never dup it).
        descriptor.close()
    }

    private func liveListener(_ handle: IOHandle) -> Int? {
        let slot = Int(handle.slot)
        guard slot < listeners.count, listeners[slot].live, listeners[slot].generation == handle.generation
        else { return nil }
        return slot
    }

    // MARK: Connections

    private func liveConnection(_ handle: IOHandle) -> Int? {
        let slot = Int(handle.slot)
        guard slot < connections.count, connections[slot].live, connections[slot].generation == handle.generation
        else { return nil }
        return slot
    }

    private func register(_ handle: IOHandle, fd: Int32) -> Int {
        let slot = Int(handle.slot)
        while connections.count <= slot { connections.append(ConnectionState()) }
        if !connections[slot].live || connections[slot].generation != handle.generation {
            connections[slot] = ConnectionState(generation: handle.generation, fd: fd, live: true)
        }
        return slot
    }

    /// Adds or modifies the socket's registration to match its state (MOD re-reports data that already arrived).
    private func updateInterest(_ slot: Int) throws(ReactorError) {
        let state = connections[slot]
        var mask = Self.edgeTriggered
        if state.connecting { mask |= Self.writeEvent }
        if state.reading { mask |= Self.readEvents }
        if state.wantsWritable { mask |= Self.writeEvent }
        let token = Token(state.connecting ? .connect : .receive, generation: state.generation, slot: UInt32(slot)).raw
        let op = state.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
        let result = cshims_epoll_ctl(epollFD, op, state.fd, mask, token)
        guard result == 0 else { throw .system(-result, "epoll_ctl connection") }
        connections[slot].registered = true
    }

    func connect(_ connection: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        let slot = register(connection, fd: descriptor.rawValue)
        connections[slot].connecting = true
        try updateInterest(slot)
    }

    func startReading(_ connection: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        let slot = register(connection, fd: descriptor.rawValue)
        guard !connections[slot].reading || !connections[slot].registered else { return }
        connections[slot].connecting = false
        connections[slot].reading = true
        try updateInterest(slot)
    }

    /// Drops EPOLLIN (and EPOLLRDHUP: the FIN is read after the data, on resume) from the interest set.
    func stopReading(_ connection: IOHandle, descriptor: borrowing Descriptor) {
        guard let slot = liveConnection(connection), connections[slot].reading else { return }
        connections[slot].reading = false
        try? updateInterest(slot)
    }

    /// Sends what the socket takes now; asks for EPOLLOUT when it is full, drops it once everything went out.
    func send(_ connection: IOHandle, descriptor: borrowing Descriptor, _ bytes: UnsafeRawPointer, _ count: Int)
        -> SendOutcome {
        let n = cshims_send(descriptor.rawValue, bytes, count)
        if n > 0 {
            if n == count, let slot = liveConnection(connection), connections[slot].wantsWritable {
                connections[slot].wantsWritable = false
                try? updateInterest(slot)
            }
            return .sent(n)
        }
        if n == -Int(EAGAIN) {
            let slot = register(connection, fd: descriptor.rawValue)
            if !connections[slot].wantsWritable {
                connections[slot].wantsWritable = true
                try? updateInterest(slot)
            }
            return .wouldBlock
        }
        return .failed(Int32(-n))
    }

    func remove(_ connection: IOHandle, descriptor: consuming Descriptor) -> Bool {
        if let slot = liveConnection(connection) { connections[slot] = ConnectionState() }
        // close() also removes the socket from the epoll set (we never dup it).
        descriptor.close()
        return true
    }

    // MARK: Waiting

    func wait(timeoutNanoseconds: UInt64?, into events: inout IOEventBuffer) throws(ReactorError) {
        arenaUsed = 0
        var timeout: Int32 = -1
        if !readAgain.isEmpty {
            timeout = 0
        } else if let ns = timeoutNanoseconds {
            timeout = Int32(clamping: (ns + 999_999) / 1_000_000)
        }
        let count = cshims_epoll_wait(epollFD, readyEvents, Int32(readyCapacity), timeout)
        guard count >= 0 else { throw .system(-count, "epoll_wait") }
        let start = events.count
        counters.countWait(blocking: timeout != 0, batch: Int(count))
        if !readAgain.isEmpty {
            swap(&readAgain, &readAgainScratch)
            for handle in readAgainScratch {
                if let slot = liveConnection(handle), connections[slot].reading {
                    readAll(slot, handle, peerHungUp: true, into: &events)
                }
            }
            readAgainScratch.removeAll(keepingCapacity: true)
        }
        for i in 0..<Int(count) { dispatch(readyEvents[i], into: &events) }
        counters.countAccepts(in: events, from: start)
    }

    private func dispatch(_ event: cshims_epoll_event, into events: inout IOEventBuffer) {
        guard let token = Token(event.data) else { return }
        let handle = IOHandle(slot: token.slot, generation: token.generation)
        switch token.kind {
        case .wake:
            counters.wakeups &+= 1
            _ = cshims_eventfd_drain(wakeFD)
        case .listener:
            guard let slot = liveListener(handle) else { return }
            acceptAll(slot, handle, into: &events)
        case .receive:
            guard let slot = liveConnection(handle) else { return }
            let flags = event.events
            if connections[slot].reading,
               flags & UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                readAll(slot, handle, peerHungUp: flags & UInt32(EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0,
                        into: &events)
            }
            if flags & Self.writeEvent != 0, connections[slot].wantsWritable, events.room > 0 {
                events.append(.writable, handle, result: 0)
            }
        case .connect:
            guard let slot = liveConnection(handle), connections[slot].connecting, events.room > 0 else { return }
            // The registration switches to the receive token with the next interest change (startReading, or a
            // send that finds the socket full).
            connections[slot].connecting = false
            events.append(.connected, handle, result: 0)
        case .send, .cancel:
            break
        }
    }

    private func acceptAll(_ slot: Int, _ handle: IOHandle, into events: inout IOEventBuffer) {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        // Bounded so one busy listener cannot starve the connections (level-triggered: the rest comes next round).
        for _ in 0..<64 where listeners[slot].accepting && events.room > 0 {
            let fd = cshims_accept(listeners[slot].fd, &storage, &length)
            if fd == -EAGAIN { return }
            events.append(.accepted, handle, result: fd)
            if fd < 0 { return }
        }
    }

    private func readAll(_ slot: Int, _ handle: IOHandle, peerHungUp: Bool, into events: inout IOEventBuffer) {
        let fd = connections[slot].fd
        while true {
            // Room for the bytes and for the end of the stream that may follow them.
            guard events.room >= 2, arenaSize - arenaUsed >= chunkSize / 4 else {
                readAgain.append(handle)
                return
            }
            let want = Swift.min(chunkSize, arenaSize - arenaUsed)
            let base = arena + arenaUsed
            let n = cshims_recv(fd, base, want)
            if n > 0 {
                arenaUsed += n
                events.append(.received, handle, result: Int32(n), bytes: base)
                // A short read drained the socket; edge-triggered epoll reports new data as a new edge.
                if n < want && !peerHungUp { return }
                continue
            }
            if n == -Int(EAGAIN) { return }
            events.append(.readEnded, handle, result: Int32(n))
            return
        }
    }
}
