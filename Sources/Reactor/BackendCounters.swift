/// What a loop's backend did since the loop was created: plain counters bumped on the loop thread, for diagnosing a
/// loop under load (how much work each wait brings, what it waited behind) without a profiler. Read on the loop
/// thread (or while it is parked) through `EventLoop.backendCounters`.
struct BackendCounters: Equatable {
    /// Calls of `wait` (one per loop iteration).
    var waits: UInt64 = 0
    /// Waits that were allowed to block (no timeout of 0).
    var blockingWaits: UInt64 = 0
    /// Kernel results taken: io_uring completions reaped, epoll ready events.
    var completions: UInt64 = 0
    /// The most kernel results one `wait` took.
    var largestBatch: UInt64 = 0
    /// Accepted sockets (and failed accepts) reported to the loop.
    var accepts: UInt64 = 0
    /// Accepts handled before received bytes of the same wait, summed over waits: how much refuse/admit work the
    /// reads of established connections waited behind.
    var acceptsAheadOfReads: UInt64 = 0
    /// Accepts taken from the kernel and still held at the end of a wait (beyond the per-wait bound), summed over
    /// waits (io_uring).
    var acceptsHeld: UInt64 = 0
    /// Accept requests armed again after one ended (io_uring multishot accept; epoll: none).
    var acceptRearms: UInt64 = 0
    /// Submissions outside `wait` (io_uring: to close removed sockets' descriptors early; epoll: none).
    var extraSubmits: UInt64 = 0
    /// Waits that found the completion queue overflowed (io_uring; completions then wait in the kernel).
    var overflowedWaits: UInt64 = 0
    /// Cross-thread wake-ups (eventfd) seen.
    var wakeups: UInt64 = 0

    /// Counts one wait that took `batch` kernel results.
    mutating func countWait(blocking: Bool, batch: Int) {
        waits &+= 1
        if blocking { blockingWaits &+= 1 }
        completions &+= UInt64(batch)
        largestBatch = Swift.max(largestBatch, UInt64(batch))
    }

    /// Counts the accepts in `events` and those of them that come before the last received bytes.
    mutating func countAccepts(in events: borrowing IOEventBuffer, from start: Int) {
        var accepted: UInt64 = 0
        var aheadOfReads: UInt64 = 0
        var index = start
        while index < events.count {
            switch events[index].kind {
            case .accepted: accepted &+= 1
            case .received: aheadOfReads = accepted
            default: break
            }
            index += 1
        }
        accepts &+= accepted
        acceptsAheadOfReads &+= aheadOfReads
    }
}
