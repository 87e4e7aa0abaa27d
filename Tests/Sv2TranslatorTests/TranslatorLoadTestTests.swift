import Reactor
import Sv2LoadTest
import Sv2Translator
import Testing

/// `sv2 loadtest run --sv1` against the real translator (and the test pool behind it), in process: every simulated
/// Sv1 device's share is answered, and the load generator's totals match the translator's and the pool's.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct TranslatorLoadTestTests {
    /// A device difficulty whose target is just below 2^256: about 9 hashes in 10 meet it, so the simulated devices
    /// find shares at once (the translator still checks every one).
    static let deviceDifficulty = 2.5e-10

    enum Mode: String, CaseIterable, CustomTestStringConvertible {
        case closedLoop, rate
        var testDescription: String { rawValue }
    }

    @Test(arguments: Mode.allCases)
    func sv1LoadOnTheTranslatorLosesNothing(_ mode: Mode) throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        // Blocks out of reach and no template refresh: no chain tip change turns in-flight shares stale.
        let (service, translator) = try bed.startPoolAndTranslator(nbits: 0x1d00_ffff) {
            $0.minimumDifficulty = Self.deviceDifficulty
            // Vardiff would raise the difficulty of devices this fast; wanting more shares than they send keeps it
            // at the floor.
            $0.sharesPerMinute = 1e9
            $0.duplicateFilterCapacity = 1 << 20
        }
        var configuration = LoadTestConfiguration(serverAddress: try bed.runner.sync { translator.localAddress! })
        configuration.stratumV1 = true
        configuration.connections = 8
        configuration.eventLoops = 2
        configuration.backend = .epoll
        configuration.rampUp = .milliseconds(200)
        configuration.duration = .milliseconds(800)
        configuration.drainTimeout = .seconds(20)
        switch mode {
        case .closedLoop:
            configuration.sharesPerSecond = 0
            configuration.sharesInFlight = 4
        case .rate:
            configuration.sharesPerSecond = 25
            configuration.sv1VersionRollingMask = nil  // plain devices (no mining.configure) here, rolling ones above
        }
        var report = try LoadTest(configuration: configuration).run()
        // The load test closes its connections only after every answer came (or the drain timed out).
        let statistics = try bed.runner.sync { translator.statistics }
        let poolAccepted = try bed.runner.sync { service.pool.statistics.sharesAccepted }
        let translatorRejected = statistics.rejections.values.reduce(0, +) + statistics.upstreamRejected
        report.check(serverAccepted: Int(statistics.sharesValid - statistics.upstreamRejected - statistics.upstreamLost),
                     serverRejected: Int(translatorRejected))
        #expect(report.nothingLost.passed, "\(report.nothingLost.problems)")
        #expect(report.setup.protocol == "sv1" && report.json().contains(#""protocol" : "sv1""#))
        #expect(report.table.contains("Stratum V1"))
        let counters = report.counters
        #expect(counters.handshakesCompleted == 8 && counters.channelsOpened == 8)
        #expect(counters.sharesSent == Int(statistics.sharesReceived))
        // Rate mode: paced by the clock. Closed loop: more than the first window, so answers led to new shares.
        #expect(counters.sharesSent > (mode == .rate ? 100 : 8 * 4))
        #expect(counters.sharesAccepted == counters.sharesSent, "\(counters.rejectionCodes)")
        #expect(counters.sharesRejected == 0 && statistics.rejections.isEmpty, "\(statistics.rejections)")
        #expect(counters.protocolErrors == 0 && counters.jobErrors == 0)
        #expect(statistics.malformedLines == 0 && statistics.protocolCloses == 0)
        // The shares that met the pool's target went upstream and were credited there, none lost on the way.
        #expect(statistics.sharesForwarded > 0)
        #expect(UInt64(poolAccepted) == statistics.upstreamAccepted && statistics.upstreamAccepted == statistics.sharesForwarded)
        #expect(statistics.upstreamLost == 0)
        #expect(report.latencyMicroseconds.count == UInt64(counters.sharesSent))
    }
}
