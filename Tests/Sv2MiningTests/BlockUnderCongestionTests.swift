import Dispatch
import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Miner

/// Issue #12 item 4: a block is never shed. Here the cheap cases (the CPU miner's queue with a stalled loop, a block of
/// a replaced job) and the helpers of `BlockFloodTests` (the miner and the proxy under a share flood).
@Suite("Blocks under congestion", .serialized)
struct BlockUnderCongestionTests {
    /// Network target 2^240: one header in 65 536 is a block, so one is found in a blink and ordinary shares are
    /// easy to tell apart.
    static let network: UInt32 = 0x1f01_0000
    static let networkTarget = Target(compact: network)!
    /// At most this many ordinary shares are handed in waiting for the shedding to start (kernel socket buffers
    /// on loopback hold a few MB; a share is ~30 to 40 bytes on the wire).
    static let maxFloodShares = 2_000_000

    /// The link to the stalled pool, without TCP keepalive: the client's default (about 30 s) fails a pool that stops
    /// reading, and a slow (sanitizer) build can take longer than that to fill the kernel buffers. Liveness is
    /// tested elsewhere; here the link must stay up.
    static func stalledPoolLink(_ address: SocketAddress) -> Sv2ClientConfiguration {
        var configuration = clientTestConfiguration(address)
        configuration.tcpKeepAlive = nil
        return configuration
    }

    /// A share of the standard `job` handed in without hashing: `hash` is a stand-in that meets any share target but
    /// not the network's, so the miner treats it as an ordinary share (only its bytes on the wire matter for a
    /// flood; hashing hundreds of thousands of them made the test slow under sanitizers).
    static func floodShare(_ job: ShareJob, nonce: UInt32) -> FoundShare {
        FoundShare(
            share: Share(jobID: job.jobID, nonce: nonce, ntime: job.minNtime, version: job.version),
            hash: Hash256(bytes: [UInt8](repeating: 0xff, count: 32))!, job: job, generation: 0)
    }

    /// Parks `runner`'s loop thread until the returned semaphore is signalled (bounded at 120 s).
    static func stall(_ runner: ClientTestLoop) -> DispatchSemaphore {
        let release = DispatchSemaphore(value: 0)
        let parked = DispatchSemaphore(value: 0)
        runner.loop.execute {
            parked.signal()
            _ = release.wait(timeout: .now() + 120)
        }
        parked.wait()
        return release
    }

    /// The share for `nonce` on the standard `job`, with its real hash, as a CPU worker would hand it in.
    static func share(_ job: ShareJob, nonce: UInt32) -> FoundShare {
        let header = BlockHeader(
            version: job.version, prevHash: job.prevHash, merkleRoot: job.merkleRoot(extranonce: .empty),
            ntime: job.minNtime, nbits: job.nbits, nonce: nonce)
        return FoundShare(
            share: Share(jobID: job.jobID, nonce: nonce, ntime: job.minNtime, version: job.version), hash: header.hash,
            job: job, generation: 0)
    }

    /// The next share of `miner`'s active job, not hashed by the test (every hash meets the proxy's `.max` targets;
    /// the proxy hashes it anyway).
    static func floodShare(_ miner: TestMinerState) -> SubmitSharesStandard {
        defer {
            miner.nonce &+= 1
            miner.nextSequence &+= 1
        }
        return SubmitSharesStandard(
            channelID: miner.channelID!, sequenceNumber: miner.nextSequence, jobID: miner.activeJobID!,
            nonce: miner.nonce, ntime: miner.minNtime, version: miner.jobs[miner.activeJobID!]!.version)
    }

    @Test func cpuMinerQueuesBlocksBeyondItsShareQuota() throws {
        let runner = try ClientTestLoop(.epoll)
        defer { runner.stop() }
        // Every header is a share, one in 65 536 a block; at most 4 ordinary shares wait for the loop.
        let job = ShareJob(
            standardJobID: 1, version: 0x2000_0000, prevHash: Hash256(bytes: [UInt8](repeating: 7, count: 32))!,
            merkleRoot: Hash256(bytes: [UInt8](repeating: 9, count: 32))!, nbits: Self.network, minNtime: 1_700_000_000,
            target: .max)
        let delivered = ClientBox<[FoundShare]>([])
        let miner = try runner.sync {
            let miner = try CPUMiner(
                configuration: CPUMinerConfiguration(workerCount: 1, maxQueuedShares: 4), eventLoop: runner.loop
            ) { delivered.value.append($0) }
            try miner.start()
            miner.setWork(MiningWork(job: job, extranonceSize: 0, ntime: job.minNtime))
            return miner
        }
        // The loop stalls: found shares pile up. Wait (bounded) until the quota overflowed and a block was found
        // after that — the counters are atomics, readable from this thread while the loop is parked.
        let release = Self.stall(runner)
        for _ in 0..<6000 where miner.droppedShares == 0 { usleep(10_000) }
        let blocksWhenFull = miner.blocksFound
        for _ in 0..<6000 where miner.blocksFound == blocksWhenFull { usleep(10_000) }
        let blockAfterOverflow = miner.droppedShares > 0 && miner.blocksFound > blocksWhenFull
        release.signal()
        try runner.sync { miner.stop() }
        let found = miner.blocksFound
        // Everything the workers posted before stopping has been delivered once this round trip returns.
        try runner.sync {}
        runner.inspect {
            #expect(blockAfterOverflow)
            #expect(miner.droppedBlocks == 0)
            #expect(UInt64(delivered.value.filter(\.isBlock).count) == found)
        }
    }

    /// Not congestion, but the same loss: a block found on a job the pool has since replaced on the same chain tip
    /// (a template refresh) is still a block, and must not be dropped as a stale share.
    @Test func minerSendsABlockOfAReplacedJobOnTheSameTip() throws {
        let poolRunner = try ClientTestLoop(.epoll)
        let minerRunner = try ClientTestLoop(.epoll)
        defer {
            minerRunner.stop()
            poolRunner.stop()
        }
        let pool = ClientTestPoolState(shareTarget: .max, nbits: Self.network)
        let server = try poolRunner.sync { try startClientTestPool(poolRunner.loop, state: pool) }
        let client = try minerRunner.sync {
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(userIdentity: "refresh", nominalHashrate: 0),
                server: clientTestConfiguration(server.localAddress!), eventLoop: minerRunner.loop)
            client.connect()
            return client
        }
        let session = client.mining.session
        #expect(try minerRunner.wait { session.tracker?.work != nil })
        try minerRunner.sync { session.stop() }
        let oldJob = try #require(try minerRunner.sync { session.tracker?.work })

        try poolRunner.sync { try pool.newJobOnSameTip() }
        #expect(try minerRunner.wait { session.tracker?.work?.jobID == oldJob.jobID + 1 })
        var nonce: UInt32 = 0
        while !Self.share(oldJob, nonce: nonce).isBlock, nonce < 1 << 24 { nonce += 1 }
        let block = Self.share(oldJob, nonce: nonce)
        #expect(block.isBlock)
        // An ordinary share of the old job is dropped as stale; the block is sent.
        var ordinary = nonce + 1
        while Self.share(oldJob, nonce: ordinary).isBlock { ordinary += 1 }
        let stale = try minerRunner.sync {
            let before = session.statistics.staleSharesDropped
            session.found(Self.share(oldJob, nonce: ordinary))
            session.found(block)
            return session.statistics.staleSharesDropped - before
        }
        #expect(stale == 1)
        #expect(try poolRunner.wait {
            pool.blocks >= 1 && pool.acceptedShares.contains { $0.share.jobID == oldJob.jobID && $0.share.nonce == nonce }
        })
    }
}
