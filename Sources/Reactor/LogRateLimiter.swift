/// Lets at most `linesPerInterval` log lines through per `interval` and counts the rest, so a flood of hostile
/// peers (or a descriptor shortage that repeats every millisecond) cannot become a flood of log lines.
///
/// Plain value, no clock of its own: callers pass the loop's cached time. After a window with suppressed lines the
/// caller logs one summary with ``takeSuppressed()`` (``EventLoop`` and the Sv2 services do so from a timer at the end
/// of the window, so the summary appears even when the flood stops).
///
/// ```swift
/// if limiter.admit(now: loop.now) { logger.warning("closing connection: …") }
/// ```
public struct LogRateLimiter: Sendable {
    /// Lines allowed per window.
    public let linesPerInterval: Int
    /// Length of a window in nanoseconds.
    public let intervalNanoseconds: UInt64
    private var windowStart: UInt64 = 0
    private var linesInWindow = 0
    private var hasWindow = false
    /// Lines suppressed since the last ``takeSuppressed()``.
    public private(set) var suppressed = 0
    /// Lines suppressed since creation (for counters and tests).
    public private(set) var totalSuppressed = 0

    /// A limiter letting `linesPerInterval` lines through per `interval` (0 suppresses every line).
    public init(linesPerInterval: Int, interval: Duration) {
        self.linesPerInterval = Swift.max(0, linesPerInterval)
        intervalNanoseconds = Swift.max(1, interval.nanoseconds)
    }

    /// Whether a line may be logged at `now` (monotonic nanoseconds); when not, it is counted as suppressed.
    public mutating func admit(now: UInt64) -> Bool {
        if !hasWindow || now &- windowStart >= intervalNanoseconds {
            hasWindow = true
            windowStart = now
            linesInWindow = 0
        }
        if linesInWindow < linesPerInterval {
            linesInWindow += 1
            return true
        }
        suppressed += 1
        totalSuppressed += 1
        return false
    }

    /// Nanoseconds from `now` until the current window ends (when a summary of its suppressed lines is due).
    public func nanosecondsUntilWindowEnds(now: UInt64) -> UInt64 {
        let elapsed = now &- windowStart
        return elapsed >= intervalNanoseconds ? 0 : intervalNanoseconds - elapsed
    }

    /// The number of lines suppressed since the last call, resetting it (log it as one "suppressed K" line).
    public mutating func takeSuppressed() -> Int {
        defer { suppressed = 0 }
        return suppressed
    }
}
