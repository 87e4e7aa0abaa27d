import Dispatch
import Foundation
import Testing
@testable import Reactor

/// Cross-thread hand-off has a bound producers can see, and warnings repeated at the kernel's pace are rate-limited.
@Suite struct BoundedHandOffTests {
    /// `tryExecute` refuses once `maxPendingTasks` tasks wait (the loop is behind); `execute` (control) still queues;
    /// once the loop catches up, everything accepted has run and `tryExecute` accepts again.
    @Test(arguments: backends)
    func tryExecuteRefusesWhileTheLoopIsBehind(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend) { $0.maxPendingTasks = 64 }
        defer { runner.stop() }
        let ran = Box(0)
        let parked = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        // Keep the loop busy so the queue fills.
        runner.loop.execute {
            parked.signal()
            resume.wait()
        }
        parked.wait()
        var accepted = 0
        for _ in 0..<100 where runner.loop.tryExecute({ ran.value += 1 }) { accepted += 1 }
        #expect(accepted == 64)
        #expect(!runner.loop.tryExecute { ran.value += 1 })
        #expect(runner.loop.pendingTaskCount == 64)
        let control = DispatchSemaphore(value: 0)
        runner.loop.execute { control.signal() }  // control messages are never refused
        #expect(runner.loop.pendingTaskCount == 65)
        resume.signal()
        #expect(control.wait(timeout: .now() + 10) == .success)
        #expect(try runner.sync { ran.value } == 64)
        #expect(runner.loop.tryExecute { ran.value += 1 })
        #expect(try runner.sync { ran.value } == 65)
    }

    /// N lines per window pass, the rest are counted; a new window lets lines through again.
    @Test func logRateLimiter() {
        var limiter = LogRateLimiter(linesPerInterval: 3, interval: .seconds(1))
        let second: UInt64 = 1_000_000_000
        let passed = (0..<10).filter { limiter.admit(now: 5 * second + UInt64($0)) }.count
        #expect(passed == 3)
        #expect(limiter.suppressed == 7)
        #expect(limiter.nanosecondsUntilWindowEnds(now: 5 * second + second / 2) == second / 2)
        let first = limiter.takeSuppressed(), second2 = limiter.takeSuppressed()
        #expect(first == 7 && second2 == 0)
        let nextWindow = limiter.admit(now: 6 * second)
        #expect(nextWindow)
        #expect(limiter.totalSuppressed == 7)
        var silent = LogRateLimiter(linesPerInterval: 0, interval: .seconds(1))
        let admitted = silent.admit(now: 1)
        #expect(!admitted)
    }
}
