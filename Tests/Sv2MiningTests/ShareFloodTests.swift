import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining
@testable import Sv2Miner

/// A share flood (every hash a share) against a server that stops reading for a while: the miner must shed
/// shares and keep its connection, not overflow its write buffer and be closed (what took the proxied miner of
/// the `0x2000ffff` demo down, and with it the proxy's only downstream channel).
@Suite("Share floods", .serialized)
struct ShareFloodTests {
    @Test(arguments: [MinerConfiguration.ChannelType.standard, .extended])
    func minerShedsSharesWhileTheServerIsNotReading(channelType: MinerConfiguration.ChannelType) throws {
        let poolRunner = try LoopRunner(.epoll)
        // A small write buffer cap so that a few seconds of stall are enough to reach it.
        let minerRunner = try LoopRunner(.epoll) { $0.maxWriteBufferSize = 1 << 20 }
        defer {
            minerRunner.stop()
            poolRunner.stop()
        }
        let configuration = PoolServiceTests.configuration { $0.minimumDifficulty = 1e-15 }  // target: every hash
        let service = try startPool(poolRunner, configuration: configuration, templates: PoolServiceTests.hardNetwork)
        let client = try minerRunner.sync {
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "flood", nominalHashrate: 0, channelType: channelType,
                    cpu: CPUMinerConfiguration(workerCount: 1), maxPendingShareBytes: 64 << 10),
                server: Sv2ClientConfiguration(
                    serverAddress: service.localAddress!, sv2Protocol: .mining, security: .plain),
                eventLoop: minerRunner.loop)
            client.connect()
            return client
        }
        defer { _ = try? minerRunner.sync { client.mining.session.stop() } }
        let session = client.mining.session
        #expect(try minerRunner.wait { session.statistics.sharesAccepted > 100 })

        // The pool's loop stalls: nothing is read from the miner while it keeps finding shares. The stall lasts until
        // the miner reports congestion (kernel socket buffers fill first; how long that takes depends on the
        // machine's load), bounded at 30 s.
        let release = TestBox(false)
        let lock = NSLock()
        poolRunner.loop.execute {
            for _ in 0..<300 where !lock.withLock({ release.value }) { usleep(100_000) }
        }
        var sawCongestion = false
        for _ in 0..<300 where !sawCongestion {
            usleep(100_000)
            sawCongestion = try minerRunner.sync { session.statistics.sharesDroppedCongested > 0 }
        }
        usleep(300_000)  // keep flooding a little longer while congested: the connection must survive that too
        lock.withLock { release.value = true }
        let (state, submitted) = try minerRunner.sync { ("\(client.state)", session.statistics.sharesSubmitted) }
        #expect(client.isReady, "miner connection: \(state)")
        #expect(sawCongestion)

        // Once the pool reads again, the backlog drains and new shares are accepted on the same connection.
        #expect(try minerRunner.wait { session.statistics.sharesAccepted > submitted / 2 && client.isReady })
        // Submitting resumes once the miner's own backlog is under its congestion threshold (a wait, not a snapshot:
        // the acknowledgements above can arrive before the last unsent bytes leave).
        #expect(try minerRunner.wait { session.statistics.sharesSubmitted > submitted })
        // The CPU miner queues at most one task on its loop, so the calls above never waited behind share deliveries.
        try minerRunner.sync {
            #expect(session.statistics.rejections.keys.allSatisfy { $0 == "stale-share" })
        }
        #expect(try poolRunner.sync { service.pool.statistics.sharesAccepted } > 0)
    }
}
