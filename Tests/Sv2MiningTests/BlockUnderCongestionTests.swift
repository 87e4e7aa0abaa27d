import Dispatch
import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining

/// Issue #12 item 4: under congestion the miner and the proxy shed ordinary shares, never a block.
///
/// The pool (the fake one of the client tests) stalls: its loop thread waits on a semaphore, so nothing is read.
/// Shares are then handed in until the shedding has started — counted, not timed — then one block, then more
/// ordinary shares. Once the pool reads again, the block must be among the shares it validated.
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

    @Test func minerSendsABlockWhileSheddingShares() throws {
        let poolRunner = try ClientTestLoop(.epoll)
        let minerRunner = try ClientTestLoop(.epoll)
        defer {
            minerRunner.stop()
            poolRunner.stop()
        }
        let pool = ClientTestPoolState(shareTarget: .max, nbits: Self.network)
        pool.maximumDuplicates = 1 << 22  // the whole backlog fits one tip: accepted, not rejected as stale
        let server = try poolRunner.sync { try startClientTestPool(poolRunner.loop, state: pool) }
        let client = try minerRunner.sync {
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "congested", nominalHashrate: 0, cpu: CPUMinerConfiguration(workerCount: 1),
                    maxPendingShareBytes: 16 << 10),
                server: Self.stalledPoolLink(server.localAddress!), eventLoop: minerRunner.loop)
            client.connect()
            return client
        }
        let session = client.mining.session
        #expect(try minerRunner.wait { session.tracker?.work != nil })
        // The test hands the shares in itself: no hashing thread races it.
        try minerRunner.sync { session.stop() }
        let job = try #require(try minerRunner.sync { session.tracker?.work })

        let release = Self.stall(poolRunner)
        // Ordinary shares (workers used the current time as ntime, these use min_ntime: no duplicates) until the
        // backlog stays above the miner's limit — which, with the pool not reading, it then does.
        var nonce: UInt32 = 1 << 28
        var handedIn = 0
        var congested = false
        while handedIn < Self.maxFloodShares, !congested {
            let batch = (0..<2000).map { _ in
                defer { nonce &+= 1 }
                return Self.floodShare(job, nonce: nonce)
            }
            // Checked at the start of a loop turn, once the previous batch had its chance to go to the kernel.
            congested = try minerRunner.sync {
                guard client.pendingWriteBytes <= 16 << 10 else { return true }
                for share in batch { session.found(share) }
                return false
            }
            handedIn += batch.count
        }
        #expect(congested, "no shedding after \(handedIn) shares")

        // A block, then more ordinary shares: the shares are shed, the block is not.
        var blockNonce: UInt32 = 0
        while !Self.share(job, nonce: blockNonce).isBlock, blockNonce < 1 << 24 { blockNonce += 1 }
        let block = Self.share(job, nonce: blockNonce)
        #expect(block.isBlock)
        let (stillCongested, dropped, sentCongested) = try minerRunner.sync {
            let stillCongested = client.pendingWriteBytes > 16 << 10
            let before = session.statistics.sharesDroppedCongested
            session.found(block)
            for _ in 0..<100 {
                session.found(Self.floodShare(job, nonce: nonce))
                nonce &+= 1
            }
            return (stillCongested, session.statistics.sharesDroppedCongested - before, session.statistics.blocksSentCongested)
        }
        #expect(stillCongested)
        #expect(dropped == 100)
        #expect(sentCongested == 1)
        #expect(try minerRunner.sync { client.isReady })

        // The pool reads again: the block is among the shares it validates, on the same connection.
        release.signal()
        #expect(try poolRunner.wait(timeout: 120) {
            pool.blocks >= 1 && pool.acceptedShares.contains { $0.share.nonce == blockNonce && $0.share.ntime == job.minNtime }
        })
        minerRunner.inspect {
            #expect(session.statistics.blocksFound >= 1)  // the workers may have found one too
            #expect(session.statistics.blocksNotSent == 0)
        }
    }

    @Test func proxyForwardsABlockWhileSheddingShares() throws {
        let poolRunner = try ClientTestLoop(.epoll)
        let proxyRunner = try ClientTestLoop(.epoll)
        defer {
            proxyRunner.stop()
            poolRunner.stop()
        }
        let pool = ClientTestPoolState(shareTarget: .max, nbits: Self.network)
        // Every forwarded share lands on the proxy's one upstream channel: room for all of them on one tip, so the
        // pool accepts the whole backlog rather than rejecting most of it as stale.
        pool.maximumDuplicates = 1 << 22
        let server = try poolRunner.sync { try startClientTestPool(poolRunner.loop, state: pool) }
        let proxy = try proxyRunner.sync {
            try ProxyAggregator.start(
                configuration: ProxyConfiguration(
                    downstream: Sv2ServerConfiguration(listenAddress: clientLoopback),
                    upstream: Self.stalledPoolLink(server.localAddress!), userIdentity: "proxy-congested",
                    downstreamTarget: .max),
                eventLoop: proxyRunner.loop)
        }
        var clients: [TestMinerClient] = []
        defer { _ = try? proxyRunner.sync { clients.forEach { $0.close() }; proxy.stop() } }
        /// A test miner on the proxy, its channel open with a job.
        func connectMiner() throws -> (TestMinerState, TestMinerClient) {
            let miner = TestMinerState(extended: false)
            let client = try proxyRunner.sync {
                let client = try TestMinerClient(
                    configuration: clientTestConfiguration(proxy.localAddress!), eventLoop: proxyRunner.loop,
                    mining: TestMiner(state: miner), jobDeclaration: NullSv2JobDeclarationClientHandler(),
                    templateDistribution: NullSv2TemplateDistributionClientHandler())
                client.connect()
                return client
            }
            clients.append(client)
            let expected = clients.count
            #expect(try proxyRunner.wait { miner.activeJobID != nil && proxy.statistics.openChannels == expected })
            return (miner, client)
        }
        var (miner, client) = try connectMiner()

        let release = Self.stall(poolRunner)
        // Ordinary shares (every hash meets both share targets) until the proxy sheds one. A channel's validator
        // takes 49 152 shares per chain tip before retiring its jobs (its duplicate filter is full), so each miner
        // sends at most 40 000 and the next one takes over.
        var sent = 0
        var sentByThisMiner = 0
        while sent < Self.maxFloodShares, try proxyRunner.sync({ proxy.statistics.sharesDroppedCongested == 0 }) {
            if sentByThisMiner >= 40_000 {
                (miner, client) = try connectMiner()
                sentByThisMiner = 0
            }
            let count = try proxyRunner.sync { [miner, client] () -> Int in
                var count = 0
                for _ in 0..<2000 {
                    try client.send(Self.floodShare(miner))
                    count += 1
                }
                return count
            }
            sent += count
            sentByThisMiner += count
            // Bounded by what was sent: the proxy has read the batch before the next one (the test miner's own
            // write buffer never fills).
            let expected = sent
            #expect(try proxyRunner.wait { proxy.statistics.sharesReceived == expected })
        }
        #expect(try proxyRunner.sync { proxy.statistics.sharesDroppedCongested } > 0, "no shedding after \(sent) shares")
        #expect(try proxyRunner.sync { proxy.statistics.rejections.isEmpty || proxy.statistics.rejections.keys.allSatisfy { $0 == "upstream-unavailable" } })

        // A block, then more ordinary shares: the shares are answered upstream-unavailable, the block is forwarded.
        let (block, _) = try #require(miner.findShare(meeting: Self.networkTarget))
        let more = try proxyRunner.sync { () -> Int in
            try client.send(block.standard)
            var more = 0
            // These are hashed: a block among them would (rightly) be forwarded and spoil the count.
            while more < 100, let (fields, hash) = miner.findShare(meeting: .max, maxTries: 1) {
                if Self.networkTarget.isMet(by: hash) { continue }
                try client.send(fields.standard)
                more += 1
            }
            return more
        }
        sent += 1 + more
        let expected = sent
        #expect(try proxyRunner.wait { proxy.statistics.sharesReceived == expected })
        proxyRunner.inspect {
            // (Flood shares are not hashed by the test: one in 65 536 is a block too, forwarded like ours.)
            #expect(proxy.statistics.blocksFound >= 1)
            #expect(proxy.statistics.blocksForwardedCongested >= 1)
            #expect(proxy.statistics.blocksNotForwarded == 0)
        }
        #expect(try proxyRunner.wait {
            miner.errors.filter { $0.sequenceNumber > block.sequence && $0.errorCode == "upstream-unavailable" }.count == more
        })

        // The pool reads again: the block is among the shares it validates, and the miner gets no error for it.
        release.signal()
        #expect(try poolRunner.wait(timeout: 120) {
            pool.blocks >= 1 && pool.acceptedShares.contains { $0.share.nonce == block.nonce && $0.share.ntime == block.ntime }
        })
        proxyRunner.inspect {
            #expect(!miner.errors.contains { $0.sequenceNumber == block.sequence })
            #expect(proxy.statistics.upstreamAccepted > 0)
        }
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
