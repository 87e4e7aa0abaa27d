/// One line of live progress: totals so far and rates over the last interval.
public struct LoadTestProgress: Sendable {
    /// Seconds since the load test started.
    public var elapsedSeconds: Double
    /// Totals so far.
    public var counters: LoadTestCounters
    /// Handshakes completed per second over the interval.
    public var handshakesPerSecond: Double
    /// Shares sent per second over the interval.
    public var sharesSentPerSecond: Double
    /// Shares accepted per second over the interval.
    public var sharesAcceptedPerSecond: Double
    /// Shares rejected per second over the interval.
    public var sharesRejectedPerSecond: Double
    /// Acknowledgement latency over the interval.
    public var latency: LatencySummary

    /// The progress line printed once a second.
    public var line: String {
        let t = LatencySummary.formatFixed(elapsedSeconds, digits: 1)
        return "[\(t)s] up \(counters.connectionsUp)  handshakes/s \(Int(handshakesPerSecond.rounded()))  "
            + "shares/s sent \(Int(sharesSentPerSecond.rounded())) acc \(Int(sharesAcceptedPerSecond.rounded())) "
            + "rej \(Int(sharesRejectedPerSecond.rounded()))  p50 \(LatencySummary.format(microseconds: latency.p50)) "
            + "p99 \(LatencySummary.format(microseconds: latency.p99))  outstanding \(counters.sharesOutstanding)"
            + (counters.connectFailures + counters.handshakeFailures > 0
               ? "  failed connects \(counters.connectFailures) handshakes \(counters.handshakeFailures)" : "")
    }
}
