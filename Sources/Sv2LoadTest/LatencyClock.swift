import Glibc

/// The clock share latencies are measured with: `CLOCK_MONOTONIC` read at the moment of the event (a vDSO call,
/// ~20 ns), never the event loop's `now`. The loop's `now` is taken once per iteration, before it waits for I/O, so
/// an acknowledgement read during the wait was stamped with the time the loop went to sleep — latencies came out
/// quantised to loop wake-ups, a few milliseconds off either way.
enum LatencyClock {
    /// Monotonic nanoseconds now.
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}
