import Testing
@testable import Sv2JobDeclaration

/// The one retry schedule of the block paths (``RetryBackoff``): first delay, doubling, cap, attempt bound.
@Suite("Retry backoff of block submissions")
struct RetryBackoffTests {
    /// The delays before attempts 1 through `count`, in seconds.
    static func seconds(_ backoff: RetryBackoff, through count: Int) -> [Double] {
        (1...count).map { attempt in
            let parts = backoff.delay(before: attempt).components
            return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        }
    }

    @Test func theDefaultWaitsMinutesForANodeThatIsStarting() {
        let backoff = RetryBackoff()
        #expect(Self.seconds(backoff, through: 10) == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60])
        // Attempts 1 to 9 may be followed by another; the 10th is the last.
        #expect((1...9).allSatisfy(backoff.allowsRetry(after:)) && !backoff.allowsRetry(after: 10))
        // About 4 minutes in all: a mainnet node loading its block index (-28) is waited for.
        let total = (2...backoff.maximumAttempts).reduce(Duration.zero) { $0 + backoff.delay(before: $1) }
        #expect(total == .seconds(243))
    }

    @Test func doublingStopsAtTheCapAndOddSettingsStayBounded() {
        let short = RetryBackoff(maximumAttempts: 6, firstDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
        #expect((1...6).map(short.delay(before:)) == [
            .zero, .milliseconds(20), .milliseconds(40), .milliseconds(80), .milliseconds(100), .milliseconds(100),
        ])
        // A first delay above the cap is the cap; zero or negative delays are no delay; no attempt before the first.
        #expect(RetryBackoff(firstDelay: .seconds(90), maximumDelay: .seconds(60)).delay(before: 2) == .seconds(60))
        #expect(RetryBackoff(firstDelay: .zero).delay(before: 5) == .zero)
        #expect(RetryBackoff(firstDelay: .seconds(-3)).delay(before: 5) == .zero)
        #expect(RetryBackoff(maximumDelay: .seconds(-1)).delay(before: 5) == .zero)
        #expect(RetryBackoff().delay(before: 0) == .zero && RetryBackoff().delay(before: -7) == .zero)
        // At least one attempt; never a retry past the bound, whatever it is set to.
        #expect(!RetryBackoff(maximumAttempts: 0).allowsRetry(after: 1))
        #expect(!RetryBackoff(maximumAttempts: -5).allowsRetry(after: 1))
        #expect(RetryBackoff(maximumAttempts: 2).allowsRetry(after: 1) && !RetryBackoff(maximumAttempts: 2).allowsRetry(after: 2))
        // A huge attempt number or cap neither loops for long nor overflows: the delay stays at the cap.
        let huge = Duration(secondsComponent: Int64.max, attosecondsComponent: 0)
        #expect(RetryBackoff(maximumAttempts: .max, firstDelay: .nanoseconds(1), maximumDelay: huge).delay(before: .max) == huge)
        #expect(RetryBackoff().delay(before: .max) == .seconds(60))
    }
}
