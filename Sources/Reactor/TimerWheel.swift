/// A hashed timer wheel: O(1) schedule and cancel, timers stored in a slab with a free list.
///
/// Deadlines are in ticks since the wheel's origin. Each slot holds a doubly linked list (by slab index)
/// of every timer whose deadline tick maps to it, whatever the round; expiry compares the absolute tick.
struct TimerWheel {
    private struct Node {
        var deadline: UInt64 = 0    // absolute ns, for ordering within a tick
        var tick: UInt64 = 0
        var prev: Int32 = -1
        var next: Int32 = -1
        var slot: Int32 = -1        // -1 while free
        var generation: UInt32 = 1
        var body: (() -> Void)?
    }

    private var nodes: [Node] = []
    private var heads: [Int32]
    private var tails: [Int32]
    private var freeHead: Int32 = -1
    private let mask: UInt64
    let resolution: UInt64
    let origin: UInt64
    /// Last tick whose timers have been collected.
    private(set) var currentTick: UInt64 = 0
    private(set) var count = 0

    init(slots: Int, resolutionNanoseconds: UInt64, origin: UInt64) {
        var size = 16
        while size < slots { size <<= 1 }
        heads = Array(repeating: -1, count: size)
        tails = Array(repeating: -1, count: size)
        mask = UInt64(size - 1)
        resolution = resolutionNanoseconds
        self.origin = origin
    }

    /// Adds a timer firing at `deadline` (absolute ns); never fires before it.
    mutating func schedule(deadline: UInt64, _ body: @escaping () -> Void) -> TimerHandle {
        let since = deadline > origin ? deadline - origin : 0
        // Round up so a timer never fires early, and never into a tick already collected.
        let tick = Swift.max((since + resolution - 1) / resolution, currentTick + 1)
        let index: Int32
        if freeHead >= 0 {
            index = freeHead
            freeHead = nodes[Int(index)].next
        } else {
            index = Int32(nodes.count)
            nodes.append(Node())
        }
        let slot = Int32(truncatingIfNeeded: tick & mask)
        nodes.withUnsafeMutableBufferPointer { n in
            let i = Int(index)
            n[i].deadline = deadline
            n[i].tick = tick
            n[i].slot = slot
            n[i].body = body
            n[i].next = -1
            n[i].prev = tails[Int(slot)]
            if n[i].prev >= 0 { n[Int(n[i].prev)].next = index } else { heads[Int(slot)] = index }
            tails[Int(slot)] = index
        }
        count += 1
        return TimerHandle(index: UInt32(index), generation: nodes[Int(index)].generation)
    }

    /// Removes a pending timer; no-op for fired, cancelled or stale handles.
    mutating func cancel(_ handle: TimerHandle) {
        let i = Int(handle.index)
        guard i < nodes.count, nodes[i].generation == handle.generation, nodes[i].slot >= 0 else { return }
        unlink(Int32(i))
        release(Int32(i))
    }

    private mutating func unlink(_ index: Int32) {
        nodes.withUnsafeMutableBufferPointer { n in
            let i = Int(index)
            let slot = Int(n[i].slot)
            if n[i].prev >= 0 { n[Int(n[i].prev)].next = n[i].next } else { heads[slot] = n[i].next }
            if n[i].next >= 0 { n[Int(n[i].next)].prev = n[i].prev } else { tails[slot] = n[i].prev }
        }
    }

    private mutating func release(_ index: Int32) {
        let i = Int(index)
        nodes[i].body = nil
        nodes[i].slot = -1
        nodes[i].generation &+= 1
        nodes[i].next = freeHead
        freeHead = index
        count -= 1
    }

    /// Tick containing time `now`.
    func tick(at now: UInt64) -> UInt64 { now > origin ? (now - origin) / resolution : 0 }

    /// Moves the bodies of all timers due at or before `now` into `expired`, in deadline order.
    /// The caller runs them afterwards (they may schedule or cancel timers).
    mutating func collectExpired(now: UInt64, into expired: inout [(deadline: UInt64, body: () -> Void)]) {
        let target = tick(at: now)
        guard target > currentTick else { return }
        let start = expired.count
        if count > 0 {
            // Visiting more than one full rotation would only revisit the same slots.
            let first = Swift.max(currentTick + 1, target > mask ? target - mask : 0)
            var t = first
            while t <= target {
                var index = heads[Int(t & mask)]
                while index >= 0 {
                    let next = nodes[Int(index)].next
                    if nodes[Int(index)].tick <= target {
                        expired.append((nodes[Int(index)].deadline, nodes[Int(index)].body!))
                        unlink(index)
                        release(index)
                    }
                    index = next
                }
                t += 1
            }
        }
        currentTick = target
        // Slots are visited in tick order; sort only when sub-tick deadlines came out of order.
        var sorted = true
        var i = start + 1
        while i < expired.count {
            if expired[i].deadline < expired[i - 1].deadline { sorted = false; break }
            i += 1
        }
        if !sorted { expired[start...].sort { $0.deadline < $1.deadline } }
    }

    /// Nanoseconds from `now` until the earliest non-empty slot's tick, or nil when no timers are pending.
    func nanosecondsUntilNextTick(now: UInt64) -> UInt64? {
        guard count > 0 else { return nil }
        var t = currentTick + 1
        let limit = currentTick + mask + 1
        while t <= limit {
            if heads[Int(t & mask)] >= 0 { break }
            t += 1
        }
        let due = origin + t * resolution
        return due > now ? due - now : 0
    }
}
