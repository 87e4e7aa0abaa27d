import Dispatch
import Foundation
import Reactor
import Sv2Pool
import Sv2TemplateProvider
import Sv2Service
import Testing
@testable import Sv2LoadTest

/// The full pool app (`PoolService` with its embedded template source) on its own loop thread, with the share
/// difficulty pinned so the simulated miners meet the target at once.
final class InProcessRealPool: @unchecked Sendable {
    /// A difficulty whose target is just below 2^256: about 9 hashes in 10 meet it.
    static let pinnedDifficulty = 2.5e-10
    let loop: EventLoop
    let service: PoolService
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        loop = try EventLoop(configuration: EventLoopConfiguration(backend: .epoll))
        var pool = PoolConfiguration(payoutScript: [0x51])
        pool.minimumDifficulty = Self.pinnedDifficulty
        pool.maximumDifficulty = Self.pinnedDifficulty
        // A network target no share meets (about one hash in 2^65, as `compare.sh` runs the pool): a block moves the
        // chain tip and turns every share in flight stale. With `sv2 pool`'s default (one hash in ~2^26) a run of
        // ~100k shares found a block about once in 700 runs, and CI met one (320 stale shares: 20 channels × 16).
        var embedded = EmbeddedTemplateProvider.Configuration()
        embedded.source.nbits = 0x1903_a30c
        service = try PoolService(
            configuration: pool,
            server: Sv2ServerConfiguration(listenAddress: try SocketAddress(ip: "127.0.0.1", port: 0)),
            templateSource: .embedded(embedded), eventLoop: loop)
        try service.start()
        Thread { [self] in
            try? loop.run()
            finished.signal()
        }.start()
    }

    var address: SocketAddress { service.localAddress! }

    /// The pool's statistics, read on its loop.
    func statistics() -> PoolStatistics {
        let result = UncheckedBox(Box())
        let done = DispatchSemaphore(value: 0)
        loop.execute { [self] in
            result.value.statistics = service.pool.statistics
            done.signal()
        }
        done.wait()
        return result.value.statistics
    }

    func stop() {
        loop.execute { [self] in
            service.stop()
            loop.stop(gracePeriod: .milliseconds(100))
        }
        _ = finished.wait(timeout: .now() + 5)
    }

    private final class Box { var statistics = PoolStatistics() }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct RealPoolRunTests {
    @Test(arguments: LoadTestChannelKind.allCases)
    func minersOnThePoolAppLoseNothing(_ kind: LoadTestChannelKind) throws {
        let pool = try InProcessRealPool()
        defer { pool.stop() }
        var configuration = LoadTestConfiguration(serverAddress: pool.address)
        configuration.connections = 20
        configuration.eventLoops = 2
        configuration.backend = .epoll
        configuration.channelKind = kind
        configuration.sharesPerSecond = 0
        configuration.sharesInFlight = 16  // ≥ the pool's acknowledgement batch (8), so the loop never waits on its timer
        configuration.rampUp = .milliseconds(200)
        configuration.duration = .milliseconds(800)
        var report = try LoadTest(configuration: configuration).run()
        // The load test closes its connections only after the drain, so the pool's counters are final.
        let statistics = pool.statistics()
        report.check(serverAccepted: Int(statistics.sharesAccepted), serverRejected: Int(statistics.sharesRejected))
        #expect(report.nothingLost.passed, "\(report.nothingLost.problems)")
        #expect(report.counters.channelsOpened == 20)
        #expect(statistics.channelsOpened == 20)
        #expect(report.counters.sharesSent > 100)
        #expect(report.counters.sharesRejected == 0, "\(report.counters.rejectionCodes)")
        #expect(report.counters.jobErrors == 0)
        #expect(statistics.blocksFound == 0)
    }
}
