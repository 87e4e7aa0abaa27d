import Testing
@testable import Sv2LoadTest

struct ShareClockTests {
    @Test func acknowledgesThroughASequenceNumberWithEachLatency() {
        var clock = ShareClock(capacity: 2)
        for t in [UInt64(100), 200, 300, 400, 500] { _ = clock.send(at: t) }  // grows past the initial capacity
        #expect(clock.outstanding == 5)
        var latencies: [UInt64] = []
        #expect(clock.acknowledge(through: 2, at: 1_000) { latencies.append($0) } == 3)
        #expect(latencies == [900, 800, 700])
        #expect(clock.outstanding == 2)
        // Already acknowledged, or never sent: not outstanding.
        #expect(clock.acknowledge(through: 1, at: 1_000) { _ in } == nil)
        #expect(clock.acknowledge(through: 9, at: 1_000) { _ in } == nil)
    }

    @Test func rejectionsInsideTheWindowAreSkippedByLaterSuccesses() {
        var clock = ShareClock()
        for t in [UInt64(10), 20, 30] { _ = clock.send(at: t) }
        var latencies: [UInt64] = []
        #expect(clock.acknowledge(1, at: 100) { latencies.append($0) })
        #expect(!clock.acknowledge(1, at: 100) { latencies.append($0) })
        #expect(clock.acknowledge(through: 2, at: 100) { latencies.append($0) } == 2)
        #expect(latencies == [80, 90, 70])
        #expect(clock.outstanding == 0)
        #expect(clock.send(at: 5) == 3)
    }
}
