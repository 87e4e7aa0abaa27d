import Foundation
import Histogram
import Testing
@testable import Sv2LoadTest

struct ReportTests {
    @Test func summarisesAHistogram() {
        var histogram = LatencySummary.makeHistogram()
        for value in 1...1_000 { _ = histogram.record(UInt64(value)) }
        let summary = LatencySummary(histogram)
        #expect(summary.count == 1_000)
        #expect(summary.p50 == 500)
        #expect(summary.p90 == 900)
        #expect(summary.p99 == 990)
        #expect(summary.max == 1_000)
        #expect(abs(summary.mean - 500.5) < 1)
        #expect(LatencySummary(LatencySummary.makeHistogram()) == LatencySummary(LatencySummary.makeHistogram()))
        #expect(LatencySummary(LatencySummary.makeHistogram()).p99 == 0)
        #expect(LatencySummary.format(microseconds: 850) == "850µs")
        #expect(LatencySummary.format(microseconds: 1_500) == "1.50ms")
        #expect(LatencySummary.format(microseconds: 2_000_000) == "2.00s")
    }

    private func report(sent: Int, accepted: Int, rejected: Int) -> LoadTestReport {
        var counters = LoadTestCounters()
        counters.sharesSent = sent
        counters.sharesAccepted = accepted
        counters.sharesRejected = rejected
        counters.channelsOpened = 2
        counters.handshakesCompleted = 2
        counters.rejectionCodes = rejected > 0 ? ["difficulty-too-low": rejected] : [:]
        let setup = LoadTestReport.Setup(
            target: "127.0.0.1:34254", connections: 2, eventLoops: 1, backend: "epoll", noise: false,
            sharesPerSecondPerConnection: 1, sharesInFlight: 4, rampUpSeconds: 0, durationSeconds: 1,
            handshakeOnly: false, idle: false, sourceAddresses: 1)
        var report = LoadTestReport(
            date: "2026-01-01T00:00:00Z", setup: setup, elapsedSeconds: 1, counters: counters,
            handshakesPerSecond: 2, sharesSentPerSecond: Double(sent), sharesAcceptedPerSecond: Double(accepted),
            latencyMicroseconds: LatencySummary(LatencySummary.makeHistogram()),
            nothingLost: .init(passed: false, problems: []))
        report.check()
        return report
    }

    @Test func jsonHasTheDocumentedShape() throws {
        let json = report(sent: 10, accepted: 9, rejected: 1).json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == [
            "date", "setup", "elapsedSeconds", "counters", "handshakesPerSecond", "sharesSentPerSecond",
            "sharesAcceptedPerSecond", "latencyMicroseconds", "nothingLost",
        ])
        let counters = try #require(object["counters"] as? [String: Any])
        #expect(counters["sharesSent"] as? Int == 10)
        #expect((counters["rejectionCodes"] as? [String: Int])?["difficulty-too-low"] == 1)
        let latency = try #require(object["latencyMicroseconds"] as? [String: Any])
        #expect(Set(latency.keys) == ["count", "p50", "p90", "p99", "p999", "max", "mean"])
        let verdict = try #require(object["nothingLost"] as? [String: Any])
        #expect(verdict["passed"] as? Bool == true)
        #expect((verdict["problems"] as? [String])?.isEmpty == true)
        let decoded = try JSONDecoder().decode(LoadTestReport.self, from: Data(json.utf8))
        #expect(decoded.counters == report(sent: 10, accepted: 9, rejected: 1).counters)
    }

    @Test func nothingLostFailsOnUnacknowledgedSharesAndServerMismatch() {
        var lossy = report(sent: 10, accepted: 8, rejected: 1)
        #expect(!lossy.nothingLost.passed)
        #expect(lossy.nothingLost.problems.first?.contains("1 unacknowledged") == true)
        lossy = report(sent: 10, accepted: 10, rejected: 0)
        lossy.check(serverAccepted: 11, serverRejected: 0)
        #expect(lossy.nothingLost.problems == ["server counted 11 accepted shares, clients 10"])
        #expect(lossy.table.contains("FAIL: server counted 11"))
    }
}
