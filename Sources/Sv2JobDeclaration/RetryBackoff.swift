/// When to try a `submitblock` again while Bitcoin Core is not reached or still starting: at most
/// ``maximumAttempts`` attempts in all, ``firstDelay`` before the second, each next delay doubled, none longer than
/// ``maximumDelay``. One schedule for every block path (``JobDeclarationBlockSubmitter`` for a pushed block,
/// ``JournaledBlockSubmission`` for the journal's unsettled blocks at start-up and in `sv2 blocks submit`), so a
/// node that is slow to come back is given the same time whichever path holds the block. ``JournaledBlockSubmission``
/// runs it out at most once per run: the blocks after one that used it up are not tried.
///
/// The default (10 attempts, 1 s doubling, at most 60 s apart: waits of 1, 2, 4, 8, 16, 32, 60, 60 and 60 s, about
/// 4 minutes in all) is sized for a node started together with the pool: bitcoind answers error -28
/// (`RPC_IN_WARMUP`: "Loading block index…", "Verifying blocks…") until its block index is loaded, which takes tens of
/// seconds on a mainnet node and minutes after an unclean shutdown. The earlier 6 attempts capped at 30 s gave up
/// after 31 s, before such a node could take the block. The short first delays still catch a node restarting or a
/// dropped connection within seconds; the 60 s cap keeps polling a node that is down to about once a minute.
public struct RetryBackoff: Sendable, Hashable, CustomStringConvertible {
    /// Attempts in all, the first included (at least 1 counts).
    public var maximumAttempts: Int
    /// Delay before the second attempt.
    public var firstDelay: Duration
    /// Longest delay between two attempts.
    public var maximumDelay: Duration

    /// A schedule of `maximumAttempts` attempts, `firstDelay` before the second, doubling up to `maximumDelay`.
    public init(maximumAttempts: Int = 10, firstDelay: Duration = .seconds(1), maximumDelay: Duration = .seconds(60)) {
        self.maximumAttempts = maximumAttempts
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
    }

    /// Whether attempt number `attempt` (1 for the first), which just failed on a transient error, may be followed
    /// by another.
    public func allowsRetry(after attempt: Int) -> Bool {
        attempt < Swift.max(maximumAttempts, 1)
    }

    /// The delay before attempt number `attempt`: zero for the first, ``firstDelay`` for the second, doubled for
    /// each next one, at most ``maximumDelay`` (negative settings count as zero).
    public func delay(before attempt: Int) -> Duration {
        let cap = Swift.max(maximumDelay, .zero)
        var delay = Swift.min(Swift.max(firstDelay, .zero), cap)
        guard attempt > 1, delay > .zero else { return .zero }
        var step = 2
        while step < attempt, delay < cap {
            // Doubling past the cap could overflow `Duration` for a cap near its largest value.
            delay = delay > cap / 2 ? cap : delay * 2
            step += 1
        }
        return delay
    }

    /// e.g. "10 attempts, 1.0 seconds doubling up to 60.0 seconds".
    public var description: String {
        "\(Swift.max(maximumAttempts, 1)) attempts, \(firstDelay) doubling up to \(maximumDelay)"
    }
}
