import Glibc

/// How a client link retries: exponential backoff with jitter between rounds over its upstreams, a short pause
/// between upstreams within a round, and how often it checks whether the first upstream is back.
///
/// Jitter spreads the reconnects of many clients after a server restart, so they do not arrive as one storm.
public struct ReconnectPolicy: Sendable, Hashable {
    /// Pause before the first retry of a round (and between upstreams within a round).
    public var initialDelay: Duration
    /// Longest pause between rounds.
    public var maximumDelay: Duration
    /// Factor the pause grows by after each round in which no upstream could be reached.
    public var multiplier: Double
    /// Relative jitter: each pause is scaled by a random factor in `1 - jitter ... 1 + jitter`.
    public var jitter: Double
    /// While connected to a fallback upstream, how often the first one is probed (a TCP connect) to return to it.
    public var primaryRetryInterval: Duration

    /// Creates a policy; the defaults retry after ~0.5 s, back off to 30 s, and probe the first upstream every 30 s.
    public init(
        initialDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30), multiplier: Double = 2,
        jitter: Double = 0.2, primaryRetryInterval: Duration = .seconds(30)
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
        self.primaryRetryInterval = primaryRetryInterval
    }

    /// The pause after `failedRounds` rounds in which nothing could be reached, before jitter.
    public func baseDelay(afterFailedRounds failedRounds: Int) -> Duration {
        let initial = Double(initialDelay.components.seconds) + Double(initialDelay.components.attoseconds) / 1e18
        let maximum = Double(maximumDelay.components.seconds) + Double(maximumDelay.components.attoseconds) / 1e18
        let grown = initial * pow(Swift.max(multiplier, 1), Double(Swift.min(failedRounds, 64)))
        return .milliseconds(Int64(Swift.min(grown, maximum) * 1000))
    }

    /// `base` scaled by a jitter factor drawn from `random` (uniform in 0..<1).
    public func jittered(_ base: Duration, random: Double) -> Duration {
        let factor = 1 + Swift.min(Swift.max(jitter, 0), 1) * (2 * random - 1)
        let seconds = Double(base.components.seconds) + Double(base.components.attoseconds) / 1e18
        return .milliseconds(Int64(Swift.max(seconds * factor, 0) * 1000))
    }
}
