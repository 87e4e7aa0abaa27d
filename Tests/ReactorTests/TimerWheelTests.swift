import Testing
@testable import Reactor

struct TimerWheelTests {
    @Test func hundredThousandTimersScheduleCancelAndExpire() {
        var wheel = TimerWheel(slots: 1024, resolutionNanoseconds: 10_000_000, origin: 0)
        var handles: [TimerHandle] = []
        var fired = 0
        for i in 0..<100_000 {
            // Spread over ~60 s, far beyond one wheel rotation (10.24 s).
            handles.append(wheel.schedule(deadline: UInt64(i % 6000) * 10_000_000 + 1) { fired += 1 })
        }
        #expect(wheel.count == 100_000)
        for i in stride(from: 0, to: 100_000, by: 2) { wheel.cancel(handles[i]) }
        #expect(wheel.count == 50_000)
        var expired: [(deadline: UInt64, body: () -> Void)] = []
        var now: UInt64 = 0
        var lastDeadline: UInt64 = 0
        while wheel.count > 0 {
            now += 7_000_000
            expired.removeAll(keepingCapacity: true)
            wheel.collectExpired(now: now, into: &expired)
            for entry in expired {
                #expect(entry.deadline <= now)
                #expect(entry.deadline >= lastDeadline)
                lastDeadline = entry.deadline
                entry.body()
            }
        }
        #expect(fired == 50_000)
    }

    @Test func staleHandleDoesNotCancelReusedSlot() {
        var wheel = TimerWheel(slots: 16, resolutionNanoseconds: 1_000_000, origin: 0)
        let first = wheel.schedule(deadline: 5_000_000) {}
        wheel.cancel(first)
        var fired = false
        let second = wheel.schedule(deadline: 5_000_000) { fired = true }
        #expect(first.index == second.index)
        wheel.cancel(first)
        var expired: [(deadline: UInt64, body: () -> Void)] = []
        wheel.collectExpired(now: 6_000_000, into: &expired)
        expired.forEach { $0.body() }
        #expect(fired)
    }

    @Test func neverFiresEarlyAndReportsNextTick() {
        var wheel = TimerWheel(slots: 64, resolutionNanoseconds: 10_000_000, origin: 1_000)
        #expect(wheel.nanosecondsUntilNextTick(now: 1_000) == nil)
        _ = wheel.schedule(deadline: 1_000 + 25_000_000) {}
        var expired: [(deadline: UInt64, body: () -> Void)] = []
        wheel.collectExpired(now: 1_000 + 24_999_999, into: &expired)
        #expect(expired.isEmpty)
        #expect(wheel.nanosecondsUntilNextTick(now: 1_000 + 20_000_000) == 10_000_000)
        wheel.collectExpired(now: 1_000 + 30_000_000, into: &expired)
        #expect(expired.count == 1)
    }
}
