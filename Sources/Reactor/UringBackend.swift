import CUring
import Glibc

/// io_uring backend: multishot accept, multishot recv into a provided-buffer ring (idle connections hold no receive
/// buffer), one send in flight per connection, an eventfd read for cross-thread wakeups. Everything queued during an
/// iteration is submitted by the single `io_uring_enter` that also waits.
final class UringBackend: IOBackend {
    private let ring: OpaquePointer
    private let completions: UnsafeMutablePointer<cshims_cqe>
    private let completionCapacity = 512
    private let wakeBuffer: UnsafeMutablePointer<UInt64>
    private let wakeFD: Int32
    private var wakeArmed = false
    /// Descriptors of removed sockets, closed once no prepared SQE can still name their numbers.
    private var descriptorsToClose = DescriptorList()
    /// Provided buffers handed to the loop in the last batch of events, recycled at the next `wait`.
    private var buffersToRecycle: [UInt32] = []
    /// Listeners whose multishot accept ended and that still want to accept: re-armed at the next `wait`, after the
    /// loop had the chance to pause them (re-arming at once after EMFILE would fail at once).
    private var listenersToRearm: [IOHandle] = []
    /// What this backend did (see ``BackendCounters``).
    private(set) var counters = BackendCounters()
    /// Accepts taken from the completion queue and not yet reported (oldest at `heldAcceptsHead`). A multishot accept
    /// drains the listener's whole backlog in one go: after the loop was off the CPU for a while under a connection
    /// flood, hundreds of accept completions came in one batch, and established connections' reads in it waited
    /// behind all of their refuse-and-close work (p99 ack latency 2.4–3.2× quiet). Now a wait reports at most
    /// ``acceptsPerWait`` of them, after its other events — like epoll's bounded accept loop.
    private var heldAccepts: [(handle: IOHandle, result: Int32)] = []
    private var heldAcceptsHead = 0
    /// Accepts reported per wait at most (the epoll backend's bound too).
    static let acceptsPerWait = 64
    /// Held accepts at which the multishot accepts are cancelled, leaving further connections in the kernel's
    /// backlog (the kernel's own back-pressure) until the held ones were reported.
    static let heldAcceptLimit = 1024

    /// Per-connection request state (indexed by slot; a slot belongs to one connection until it is released).
    private struct ConnectionState {
        enum Receive { case idle, armed, cancelling }
        var generation: UInt32 = 0
        /// The socket's number, valid until ``remove(_:descriptor:)`` (which takes the descriptor to close).
        var fd: Int32 = -1
        /// Kernel operations that still reference the connection or its buffers.
        var operations = 0
        var receive = Receive.idle
        /// The loop wants received bytes (false while paused or after removal).
        var wantsReceive = false
        var removed = true
    }
    private var connections: [ConnectionState] = []

    private struct ListenerState {
        var generation: UInt32 = 0
        var fd: Int32 = -1
        var armed = false
        var accepting = false
        /// The accept was cancelled because too many accepts are held; re-armed once they were reported.
        var throttled = false
        var removed = true
    }
    private var listeners: [ListenerState] = []

    private static let cqeFlagBuffer = UInt32(CSHIMS_CQE_F_BUFFER)
    private static let cqeFlagMore = UInt32(CSHIMS_CQE_F_MORE)
    private static let bufferShift = UInt32(CSHIMS_CQE_BUFFER_SHIFT)

    init(configuration: EventLoopConfiguration, wakeFD: Int32) throws(ReactorError) {
        var count = 8
        while count < configuration.ioUringBufferCount { count <<= 1 }
        var entries = 64
        while entries < configuration.ioUringEntries { entries <<= 1 }
        var error: Int32 = 0
        guard let ring = cshims_uring_create(UInt32(entries), UInt32(count), UInt32(configuration.receiveChunkSize), &error)
        else { throw .system(-error, "io_uring setup") }
        self.ring = ring
        self.wakeFD = wakeFD
        completions = .allocate(capacity: completionCapacity)
        wakeBuffer = .allocate(capacity: 1)
    }

    func destroy() {
        descriptorsToClose.closeAll()
        // Accepted sockets nobody was told about.
        for index in heldAcceptsHead..<heldAccepts.count where heldAccepts[index].result >= 0 {
            Descriptor(adopting: heldAccepts[index].result).close()
        }
        heldAccepts.removeAll()
        heldAcceptsHead = 0
        cshims_uring_destroy(ring)
        completions.deallocate()
        wakeBuffer.deallocate()
    }

    /// Enables the ring on the loop thread (its single issuer) and arms the wakeup read.
    func start() throws(ReactorError) {
        let result = cshims_uring_enable(ring)
        // -EBADFD: already enabled by an earlier run().
        guard result == 0 || result == -EBADFD else { throw .system(-result, "io_uring enable") }
        if !wakeArmed {
            wakeArmed = true
            armWake()
        }
    }

    private func armWake() {
        _ = cshims_uring_prep_read(ring, wakeFD, wakeBuffer, 8, Token(.wake, generation: 0, slot: 0).raw)
    }

    // MARK: Listeners

    func addListener(_ listener: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        let slot = Int(listener.slot)
        while listeners.count <= slot { listeners.append(ListenerState()) }
        listeners[slot] = ListenerState(generation: listener.generation, fd: descriptor.rawValue, armed: false,
                                        accepting: true, throttled: false, removed: false)
        try armAccept(slot)
    }

    private func armAccept(_ slot: Int) throws(ReactorError) {
        let state = listeners[slot]
        let token = Token(.listener, generation: state.generation, slot: UInt32(slot)).raw
        let result = cshims_uring_prep_accept_multishot(ring, state.fd, token)
        guard result == 0 else { throw .system(-result, "io_uring accept") }
        listeners[slot].armed = true
    }

    func setAccepting(_ listener: IOHandle, descriptor: borrowing Descriptor, _ accepting: Bool) {
        guard let slot = liveListener(listener) else { return }
        listeners[slot].accepting = accepting
        if accepting {
            if !listeners[slot].armed { try? armAccept(slot) }
        } else if listeners[slot].armed {
            cancel(Token(.listener, generation: listener.generation, slot: listener.slot))
        }
    }

    func removeListener(_ listener: IOHandle, descriptor: consuming Descriptor) {
        if let slot = liveListener(listener) {
            listeners[slot].removed = true
            listeners[slot].accepting = false
            if listeners[slot].armed { cancel(Token(.listener, generation: listener.generation, slot: listener.slot)) }
        }
        // The armed accept holds a reference to the socket until its cancellation completes (a later wait), so the
        // close alone would leave the port listening meanwhile: connections to it would be accepted by the kernel and
        // then reset instead of refused. shutdown() stops the listening at once.
        _ = cshims_shutdown(descriptor.rawValue, Int32(SHUT_RDWR))
        retire(descriptor)
    }

    private func liveListener(_ handle: IOHandle) -> Int? {
        let slot = Int(handle.slot)
        guard slot < listeners.count, listeners[slot].generation == handle.generation, !listeners[slot].removed
        else { return nil }
        return slot
    }

    // MARK: Connections

    private func liveConnection(_ handle: IOHandle) -> Int? {
        let slot = Int(handle.slot)
        guard slot < connections.count, connections[slot].generation == handle.generation,
              !connections[slot].removed
        else { return nil }
        return slot
    }

    /// The state of a connection the loop has not told us about yet is created on first use.
    private func register(_ handle: IOHandle, fd: Int32) -> Int {
        let slot = Int(handle.slot)
        while connections.count <= slot { connections.append(ConnectionState()) }
        if connections[slot].generation != handle.generation || connections[slot].removed {
            connections[slot] = ConnectionState(generation: handle.generation, fd: fd, removed: false)
        }
        return slot
    }

    func connect(_ connection: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        let slot = register(connection, fd: descriptor.rawValue)
        let token = Token(.connect, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_uring_prep_poll(ring, descriptor.rawValue, UInt32(POLLOUT), token)
        guard result == 0 else { throw .system(-result, "io_uring poll connect") }
        connections[slot].operations += 1
    }

    func startReading(_ connection: IOHandle, descriptor: borrowing Descriptor) throws(ReactorError) {
        let slot = register(connection, fd: descriptor.rawValue)
        connections[slot].wantsReceive = true
        // A receive being cancelled (a pause) re-arms itself when its last completion arrives.
        guard connections[slot].receive == .idle else { return }
        try armReceive(slot)
    }

    private func armReceive(_ slot: Int) throws(ReactorError) {
        let state = connections[slot]
        let token = Token(.receive, generation: state.generation, slot: UInt32(slot)).raw
        let result = cshims_uring_prep_recv_multishot(ring, state.fd, token)
        guard result == 0 else { throw .system(-result, "io_uring recv") }
        connections[slot].receive = .armed
        connections[slot].operations += 1
    }

    /// Cancels the multishot receive; completions already queued still arrive (the loop keeps their bytes).
    func stopReading(_ connection: IOHandle, descriptor: borrowing Descriptor) {
        guard let slot = liveConnection(connection) else { return }
        connections[slot].wantsReceive = false
        guard connections[slot].receive == .armed else { return }
        connections[slot].receive = .cancelling
        cancel(Token(.receive, generation: connection.generation, slot: connection.slot))
    }

    /// Queues one send; the loop keeps the bytes where they are until the `.sent` event.
    func send(_ connection: IOHandle, descriptor: borrowing Descriptor, _ bytes: UnsafeRawPointer, _ count: Int)
        -> SendOutcome {
        let slot = register(connection, fd: descriptor.rawValue)
        let token = Token(.send, generation: connection.generation, slot: connection.slot).raw
        let result = cshims_uring_prep_send(ring, descriptor.rawValue, bytes, count, token)
        guard result == 0 else { return .failed(-result) }
        connections[slot].operations += 1
        return .inFlight
    }

    func remove(_ connection: IOHandle, descriptor: consuming Descriptor) -> Bool {
        var released = true
        if let slot = liveConnection(connection) {
            connections[slot].removed = true
            connections[slot].wantsReceive = false
            if connections[slot].operations == 0 {
                connections[slot].fd = -1
            } else {
                released = false
                // Completes the multishot recv (EOF) and any blocked send; the cancels cover a pending poll.
                _ = cshims_shutdown(descriptor.rawValue, Int32(SHUT_RDWR))
                cancel(Token(.receive, generation: connection.generation, slot: connection.slot))
                cancel(Token(.connect, generation: connection.generation, slot: connection.slot))
            }
        }
        retire(descriptor)
        return released
    }

    private func cancel(_ target: Token) {
        _ = cshims_uring_prep_cancel(ring, target.raw, Token(.cancel, generation: 0, slot: 0).raw)
    }

    /// Prepared-but-unsubmitted SQEs name the descriptor by number: the kernel resolves it at submission. The number
    /// must keep meaning this socket until every SQE prepared so far is in the kernel — after close() it could name
    /// a socket accepted a moment later. Usually the submit below takes them all and the descriptor goes at once;
    /// when it cannot (a full completion queue makes io_uring_enter refuse with EBUSY/EAGAIN), it goes after the
    /// loop's next successful submission instead of silently risking a stale request on a new connection.
    private func retire(_ descriptor: consuming Descriptor) {
        descriptorsToClose.append(descriptor)
        counters.extraSubmits &+= 1
        closeDescriptorsOnceSubmitted()
    }

    /// Submits what is prepared and, when nothing is left unsubmitted, closes the descriptors waiting for that.
    /// In-flight requests hold their own file reference, so closing does not disturb them.
    /// Hands what is prepared to the kernel now (sends of replies written so far), without waiting.
    func submitPending() {
        guard cshims_uring_unsubmitted(ring) > 0 else { return }
        counters.extraSubmits &+= 1
        closeDescriptorsOnceSubmitted()
    }

    private func closeDescriptorsOnceSubmitted() {
        _ = cshims_uring_submit(ring)
        guard cshims_uring_unsubmitted(ring) == 0 else { return }
        descriptorsToClose.closeAll()
    }

    // MARK: Waiting

    func wait(timeoutNanoseconds: UInt64?, into events: inout IOEventBuffer) throws(ReactorError) {
        // The loop is done with the bytes of the previous batch: their buffers go back to the kernel.
        for id in buffersToRecycle { cshims_uring_recycle_buffer(ring, id) }
        buffersToRecycle.removeAll(keepingCapacity: true)
        if !listenersToRearm.isEmpty { rearmListeners() }
        // Held accepts are reported by this wait: it must not block.
        let timeout: Int64 = heldAcceptsHead < heldAccepts.count ? 0
            : timeoutNanoseconds.map { Int64(clamping: $0) } ?? -1
        let result = cshims_uring_submit_and_wait(ring, timeout)
        guard result == 0 else { throw .system(-result, "io_uring_enter") }
        if !descriptorsToClose.isEmpty { closeDescriptorsOnceSubmitted() }
        if cshims_uring_cq_overflowed(ring) != 0 { counters.overflowedWaits &+= 1 }
        let start = events.count
        var reaped = 0
        // One CQE makes at most three events (bytes, a failed re-arm, the release), so reaping at most a third of the
        // room never overfills the buffer; what is left
        // in the completion queue is reaped by the next wait (which then does not block).
        while events.room >= 3 {
            let limit = Swift.min(events.room / 3, completionCapacity)
            let count = Int(cshims_uring_reap(ring, completions, UInt32(limit)))
            reaped += count
            for i in 0..<count { dispatch(completions[i], into: &events) }
            if count < limit { break }
        }
        if heldAcceptsHead < heldAccepts.count { reportHeldAccepts(into: &events) }
        counters.countWait(blocking: timeout != 0, batch: reaped)
        counters.countAccepts(in: events, from: start)
    }

    private func rearmListeners() {
        let held = heldAccepts.count - heldAcceptsHead
        var kept = 0
        for index in listenersToRearm.indices {
            let handle = listenersToRearm[index]
            guard let slot = liveListener(handle), listeners[slot].accepting, !listeners[slot].armed else { continue }
            // Held accepts (a throttle's, or an error such as EMFILE that ended the accept) reach the loop first, so
            // that it can pause the listener before the accept is re-armed.
            if held > 0 {
                listenersToRearm[kept] = handle
                kept += 1
                continue
            }
            listeners[slot].throttled = false
            counters.acceptRearms &+= 1
            try? armAccept(slot)
        }
        listenersToRearm.removeSubrange(kept...)
    }

    private func holdAccept(_ handle: IOHandle, result: Int32) {
        heldAccepts.append((handle, result))
        guard heldAccepts.count - heldAcceptsHead == Self.heldAcceptLimit else { return }
        for slot in listeners.indices where !listeners[slot].removed && listeners[slot].armed && !listeners[slot].throttled {
            listeners[slot].throttled = true
            cancel(Token(.listener, generation: listeners[slot].generation, slot: UInt32(slot)))
        }
    }

    /// Reports up to ``acceptsPerWait`` held accepts, after the wait's other events.
    private func reportHeldAccepts(into events: inout IOEventBuffer) {
        var reported = 0
        while heldAcceptsHead < heldAccepts.count, reported < Self.acceptsPerWait, events.room > 0 {
            let accept = heldAccepts[heldAcceptsHead]
            heldAcceptsHead += 1
            reported += 1
            events.append(.accepted, accept.handle, result: accept.result)
        }
        let left = heldAccepts.count - heldAcceptsHead
        counters.acceptsHeld &+= UInt64(left)
        if left == 0 {
            heldAccepts.removeAll(keepingCapacity: true)
            heldAcceptsHead = 0
        } else if heldAcceptsHead >= 4096 {
            heldAccepts.removeSubrange(..<heldAcceptsHead)
            heldAcceptsHead = 0
        }
    }

    private func dispatch(_ cqe: cshims_cqe, into events: inout IOEventBuffer) {
        guard let token = Token(cqe.user_data) else { return }
        let more = cqe.flags & Self.cqeFlagMore != 0
        let handle = IOHandle(slot: token.slot, generation: token.generation)
        switch token.kind {
        case .wake:
            counters.wakeups &+= 1
            armWake()
        case .listener:
            guard let slot = liveListener(handle) else {
                // Accepted after the listener went away: nobody will ever own this socket.
                if cqe.res >= 0 { Descriptor(adopting: cqe.res).close() }
                return
            }
            // A multishot accept ends with its first error (EMFILE included).
            if !more {
                listeners[slot].armed = false
                if listeners[slot].accepting { listenersToRearm.append(handle) }
            }
            if cqe.res != -ECANCELED { holdAccept(handle, result: cqe.res) }
        case .receive:
            receive(cqe, handle: handle, more: more, into: &events)
        case .send:
            let slot = Int(handle.slot)
            guard slot < connections.count, connections[slot].generation == handle.generation else { return }
            connections[slot].operations -= 1
            events.append(.sent, handle, result: cqe.res)
            releaseIfDone(slot, handle, into: &events)
        case .connect:
            let slot = Int(handle.slot)
            guard slot < connections.count, connections[slot].generation == handle.generation else { return }
            connections[slot].operations -= 1
            if !connections[slot].removed { events.append(.connected, handle, result: cqe.res < 0 ? cqe.res : 0) }
            releaseIfDone(slot, handle, into: &events)
        case .cancel:
            break
        }
    }

    private func receive(_ cqe: cshims_cqe, handle: IOHandle, more: Bool, into events: inout IOEventBuffer) {
        let hasBuffer = cqe.flags & Self.cqeFlagBuffer != 0
        let bufferID = cqe.flags >> Self.bufferShift
        let slot = Int(handle.slot)
        guard slot < connections.count, connections[slot].generation == handle.generation else {
            if hasBuffer { cshims_uring_recycle_buffer(ring, bufferID) }
            return
        }
        var rearm = false
        if cqe.res > 0 {
            if hasBuffer {
                buffersToRecycle.append(bufferID)
                events.append(.received, handle, result: cqe.res, bytes: cshims_uring_buffer(ring, bufferID))
            }
            rearm = true
        } else if hasBuffer {
            cshims_uring_recycle_buffer(ring, bufferID)
        }
        if cqe.res == 0 {
            events.append(.readEnded, handle, result: 0)
        } else if cqe.res == -ENOBUFS {
            // All provided buffers were in use; the recycled ones are published on the next submit.
            rearm = true
        } else if cqe.res == -ECANCELED {
            // Cancelled by a pause; a resume that came before this completion wants the receive back.
            rearm = true
        } else if cqe.res < 0 {
            events.append(.readEnded, handle, result: cqe.res)
        }
        guard !more else { return }
        connections[slot].operations -= 1
        connections[slot].receive = .idle
        if rearm, connections[slot].wantsReceive, !connections[slot].removed {
            // A connection left without a receive would never read again: a silent stall its peer only notices by
            // timing out. The loop closes it, with the reason, instead.
            do throws(ReactorError) { try armReceive(slot) } catch {
                events.append(.readEnded, handle, result: -error.errno)
            }
        }
        releaseIfDone(slot, handle, into: &events)
    }

    private func releaseIfDone(_ slot: Int, _ handle: IOHandle, into events: inout IOEventBuffer) {
        guard connections[slot].removed, connections[slot].operations == 0, connections[slot].fd >= 0 else { return }
        connections[slot].fd = -1
        events.append(.released, handle, result: 0)
    }
}
