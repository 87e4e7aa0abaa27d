import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Miner

@Suite("Client side: job tracking and share building")
struct MinerJobTrackerTests {
    static let prevHash = Hash256(bytes: [UInt8](repeating: 0x22, count: 32))!
    static let root = Hash256(bytes: [UInt8](repeating: 0x33, count: 32))!

    static func standardJob(_ id: UInt32, minNtime: UInt32? = nil) -> MinerJob {
        MinerJob(jobID: id, minNtime: minNtime, version: 0x2000_0000, versionRollingAllowed: true,
                 body: .standard(merkleRoot: root))
    }

    @Test func futureJobActivatedBySetNewPrevHash() throws {
        var tracker = MinerJobTracker(channelID: 7, kind: .standard, extranoncePrefix: .empty, target: .max)
        let changed1 = try tracker.receive(Self.standardJob(1))
        #expect(changed1 == false)
        #expect(tracker.work == nil)
        #expect(tracker.futureJobIDs == [1])
        let changed2 = try tracker.setNewPrevHash(jobID: 1, prevHash: Self.prevHash, minNtime: 100, nbits: 0x1d00_ffff)
        #expect(changed2)
        let work = try #require(tracker.work)
        #expect(work.jobID == 1 && work.prevHash == Self.prevHash && work.minNtime == 100)
        #expect(work.header(for: Share(jobID: 1, nonce: 0, ntime: 100, version: 0x2000_0000)).merkleRoot == Self.root)
        #expect(tracker.futureJobIDs.isEmpty)
        // An immediate job replaces the active one on the same tip.
        let changed3 = try tracker.receive(Self.standardJob(2, minNtime: 150))
        #expect(changed3)
        #expect(tracker.work?.jobID == 2 && tracker.work?.minNtime == 150)
        #expect(tracker.isCurrent(jobID: 2, prevHash: Self.prevHash))
        #expect(!tracker.isCurrent(jobID: 1, prevHash: Self.prevHash))
        // A new tip for a job never announced is an error; other future jobs are dropped on a new tip.
        var copy = tracker
        #expect(throws: MinerJobError.unknownJob(9)) {
            try copy.setNewPrevHash(jobID: 9, prevHash: .zero, minNtime: 0, nbits: 0)
        }
        try tracker.receive(Self.standardJob(3))
        try tracker.receive(Self.standardJob(4))
        try tracker.setNewPrevHash(jobID: 4, prevHash: .zero, minNtime: 200, nbits: 0x1d00_ffff)
        #expect(tracker.futureJobIDs.isEmpty)
        #expect(tracker.isCurrent(jobID: 4, prevHash: .zero))
    }

    @Test func targetOnlyEverHardensTheRunningJob() throws {
        var tracker = MinerJobTracker(channelID: 1, kind: .standard, extranoncePrefix: .empty, target: clientTarget(oneIn: 100))
        try tracker.receive(Self.standardJob(1))
        try tracker.setNewPrevHash(jobID: 1, prevHash: Self.prevHash, minNtime: 0, nbits: 0x1d00_ffff)
        let easier = tracker.setTarget(clientTarget(oneIn: 10))
        #expect(easier == false)  // easier: running job unchanged
        #expect(tracker.work?.target == clientTarget(oneIn: 100))
        #expect(tracker.target == clientTarget(oneIn: 10))
        let harder = tracker.setTarget(clientTarget(oneIn: 1000))
        #expect(harder)  // harder: applies at once
        #expect(tracker.work?.target == clientTarget(oneIn: 1000))
        // The next job uses the latest target.
        tracker.setTarget(clientTarget(oneIn: 10))
        try tracker.receive(Self.standardJob(2, minNtime: 0))
        #expect(tracker.work?.target == clientTarget(oneIn: 10))
    }

    @Test func extendedJobBuildsCoinbaseWithPrefixAndRolledExtranonce() throws {
        let prefix = Extranonce(bytes: [1, 2, 3, 4])!
        var tracker = MinerJobTracker(channelID: 1, kind: .extended(extranonceSize: 4), extranoncePrefix: prefix, target: .max)
        var copy = tracker
        #expect(throws: MinerJobError.jobKindMismatch(jobID: 5, extended: false)) { try copy.receive(Self.standardJob(5)) }
        let state = ClientTestPoolState(shareTarget: .max)
        let parts = state.coinbaseParts(extranonceLength: 8)
        try tracker.receive(MinerJob(
            jobID: 1, minNtime: nil, version: 0x2000_0000, versionRollingAllowed: false,
            body: .extended(coinbasePrefix: parts.prefix, coinbaseSuffix: parts.suffix, merklePath: state.merklePath)))
        try tracker.setNewPrevHash(jobID: 1, prevHash: Self.prevHash, minNtime: 0, nbits: 0x1d00_ffff)
        let rolled = Extranonce(bytes: [9, 9, 9, 9])!
        // Independent computation: coinbase = prefix ‖ extranonce_prefix ‖ extranonce ‖ suffix → txid → path.
        let txid = SHA256d.hash(parts.prefix + prefix.bytes + rolled.bytes + parts.suffix)
        let expected = MerkleRoot.compute(coinbaseTxid: txid, path: state.merklePath)
        #expect(tracker.work?.merkleRoot(extranonce: rolled) == expected)
        #expect(tracker.work?.versionMask == 0)
        // A new prefix applies to jobs received after it: the running job keeps the prefix it was sent under.
        let newPrefix = Extranonce(bytes: [5, 6, 7, 8])!
        #expect(try tracker.setExtranoncePrefix(newPrefix) == false)
        #expect(tracker.work?.merkleRoot(extranonce: rolled) == expected)
        #expect(tracker.extranoncePrefix == newPrefix && tracker.activeExtranoncePrefix == prefix)
        let txid2 = SHA256d.hash(parts.prefix + newPrefix.bytes + rolled.bytes + parts.suffix)
        let underNewPrefix = MerkleRoot.compute(coinbaseTxid: txid2, path: state.merklePath)
        // A future job received now carries the new prefix, but only becomes the work at its SetNewPrevHash.
        let job2 = MinerJob(
            jobID: 2, minNtime: nil, version: 0x2000_0000, versionRollingAllowed: false,
            body: .extended(coinbasePrefix: parts.prefix, coinbaseSuffix: parts.suffix, merklePath: state.merklePath))
        #expect(try tracker.receive(job2) == false)
        #expect(tracker.extranoncePrefix(ofJob: 2) == newPrefix && tracker.extranoncePrefix(ofJob: 1) == prefix)
        #expect(tracker.work?.jobID == 1 && tracker.work?.merkleRoot(extranonce: rolled) == expected)
        try tracker.setNewPrevHash(jobID: 2, prevHash: Self.prevHash, minNtime: 0, nbits: 0x1d00_ffff)
        #expect(tracker.work?.jobID == 2 && tracker.work?.merkleRoot(extranonce: rolled) == underNewPrefix)
        #expect(tracker.activeExtranoncePrefix == newPrefix)
        // A job active at once after another prefix change switches at once.
        let thirdPrefix = Extranonce(bytes: [7, 7, 7, 7])!
        try tracker.setExtranoncePrefix(thirdPrefix)
        #expect(tracker.work?.merkleRoot(extranonce: rolled) == underNewPrefix)
        let job3 = MinerJob(
            jobID: 3, minNtime: 0, version: 0x2000_0000, versionRollingAllowed: false,
            body: .extended(coinbasePrefix: parts.prefix, coinbaseSuffix: parts.suffix, merklePath: state.merklePath))
        #expect(try tracker.receive(job3))
        let txid3 = SHA256d.hash(parts.prefix + thirdPrefix.bytes + rolled.bytes + parts.suffix)
        #expect(tracker.work?.jobID == 3)
        #expect(tracker.work?.merkleRoot(extranonce: rolled) == MerkleRoot.compute(coinbaseTxid: txid3, path: state.merklePath))
    }

    @Test func shareBuilderNumbersSharesAndCountsAcks() {
        var builder = ShareBuilder(firstSequenceNumber: .max)
        let share = Share(jobID: 3, nonce: 4, ntime: 5, version: 6, extranonce: Extranonce(bytes: [7, 8])!)
        let first = builder.standard(channelID: 1, share: share)
        let second = builder.extended(channelID: 2, share: share)
        #expect(first.sequenceNumber == .max && second.sequenceNumber == 0)  // wraps
        #expect(first.jobID == 3 && first.nonce == 4 && first.ntime == 5 && first.version == 6)
        #expect(second.extranonce == [7, 8] && second.channelID == 2)
        #expect(builder.pending == 2)
        builder.acknowledge(2)
        #expect(builder.pending == 0)
    }
}

@Suite("Client side: CPU miner", .serialized)
struct CPUMinerTests {
    /// Runs a CPU miner on `work` until `count` shares arrived; returns them (loop thread collected).
    static func mine(
        _ work: MiningWork, workers: Int, nonceSpan: UInt32? = nil, count: Int
    ) throws -> (shares: [FoundShare], perWorker: [UInt64]) {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let found = ClientBox<[FoundShare]>([])
        let miner = try runner.sync {
            let miner = try CPUMiner(
                configuration: CPUMinerConfiguration(workerCount: workers, nonceSpan: nonceSpan),
                eventLoop: runner.loop) { found.value.append($0) }
            try miner.start()
            miner.setWork(work)
            return miner
        }
        #expect(try runner.wait { found.value.count >= count })
        let perWorker = try runner.sync { () -> [UInt64] in
            miner.stop()
            return miner.hashesPerWorker
        }
        return (try runner.sync { found.value }, perWorker)
    }

    static func validate(_ shares: [FoundShare], job: ShareJob) {
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        for found in shares {
            #expect(found.job.jobID == job.jobID)
            // The validator recomputes the header from the share alone: hash must match what the worker saw.
            let outcome = validator.validate(found.share)
            #expect(outcome.isAccepted, "share \(found.share) rejected: \(outcome)")
            #expect(job.header(for: found.share).hash == found.hash)
        }
    }

    @Test func findsValidSharesOnTwoWorkers() throws {
        let target = clientTarget(oneIn: 4096)
        let job = ShareJob(
            standardJobID: 1, version: 0x2000_0000, prevHash: MinerJobTrackerTests.prevHash,
            merkleRoot: MinerJobTrackerTests.root, nbits: 0x1d00_ffff, minNtime: 1000, target: target)
        let (shares, perWorker) = try Self.mine(MiningWork(job: job, extranonceSize: 0), workers: 2, count: 20)
        #expect(shares.count >= 20)
        Self.validate(shares, job: job)
        #expect(perWorker.count == 2 && perWorker.allSatisfy { $0 > 0 })
        // Worker 1 starts at nonce 2^31: both halves of the nonce space produce shares.
        #expect(shares.contains { $0.share.nonce >= 1 << 31 } && shares.contains { $0.share.nonce < 1 << 31 })
    }

    @Test func rollsVersionWhenNonceRangeIsExhausted() throws {
        let job = ShareJob(
            standardJobID: 1, version: 0x2000_0000, prevHash: MinerJobTrackerTests.prevHash,
            merkleRoot: MinerJobTrackerTests.root, nbits: 0x1d00_ffff, minNtime: 1000, target: clientTarget(oneIn: 64))
        let (shares, _) = try Self.mine(MiningWork(job: job, extranonceSize: 0), workers: 2, nonceSpan: 256, count: 40)
        Self.validate(shares, job: job)
        let versions = Set(shares.map(\.share.version))
        #expect(versions.count > 3)
        #expect(versions.allSatisfy { ($0 ^ 0x2000_0000) & ~ShareJob.versionRollingMask == 0 })
    }

    @Test func rollsExtranonceWhenVersionRollingIsNotAllowed() throws {
        let state = ClientTestPoolState(shareTarget: .max)
        let prefix = Extranonce(bytes: [0xab, 0xcd])!
        let parts = state.coinbaseParts(extranonceLength: 2 + 3)
        let job = ShareJob(
            extendedJobID: 4, version: 0x2000_0000, versionRollingAllowed: false, prevHash: MinerJobTrackerTests.prevHash,
            coinbasePrefix: parts.prefix, extranoncePrefix: prefix, extranonceSize: 3, coinbaseSuffix: parts.suffix,
            merklePath: state.merklePath, nbits: 0x1d00_ffff, minNtime: 1000, target: clientTarget(oneIn: 64))
        let (shares, _) = try Self.mine(MiningWork(job: job, extranonceSize: 3), workers: 2, nonceSpan: 256, count: 40)
        Self.validate(shares, job: job)
        #expect(Set(shares.map(\.share.version)) == [0x2000_0000])
        #expect(Set(shares.map(\.share.extranonce)).count > 3)
        #expect(shares.allSatisfy { $0.share.extranonce.count == 3 })
    }

    @Test func newWorkReplacesStaleWorkQuickly() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let found = ClientBox<[FoundShare]>([])
        let switchedAt = ClientBox<UInt64>(0)
        func job(_ id: UInt32) -> ShareJob {
            ShareJob(
                standardJobID: id, version: 0x2000_0000, prevHash: Hash256(bytes: [UInt8](repeating: UInt8(id), count: 32))!,
                merkleRoot: MinerJobTrackerTests.root, nbits: 0x1d00_ffff, minNtime: 1000, target: clientTarget(oneIn: 2048))
        }
        let miner = try runner.sync {
            let miner = try CPUMiner(configuration: CPUMinerConfiguration(workerCount: 2), eventLoop: runner.loop) {
                found.value.append($0)
            }
            try miner.start()
            miner.setWork(MiningWork(job: job(1), extranonceSize: 0))
            return miner
        }
        #expect(try runner.wait { found.value.count >= 5 })
        try runner.sync {
            switchedAt.value = UInt64(found.value.count)
            miner.setWork(MiningWork(job: job(2), extranonceSize: 0))
        }
        #expect(try runner.wait { found.value.filter { $0.share.jobID == 2 }.count >= 5 })
        #expect(try runner.wait { found.value.filter { $0.share.jobID == 2 }.count >= 25 })
        runner.inspect {
            miner.stop()
            // A worker notices new work at its next 16K-nonce chunk, so job-1 shares after the switch are at most
            // what each worker's current chunk holds: 8 expected at 1-in-2048, bounded here at 3× that per worker
            // (a Poisson tail of ~1e-6). How many arrive within that bound depends on scheduling, not on the code.
            let late = found.value.dropFirst(Int(switchedAt.value)).filter { $0.share.jobID == 1 }
            #expect(late.count <= 2 * 3 * 16_384 / 2048, "\(late.count) late shares: more than a chunk per worker")
            #expect(found.value.filter { $0.share.jobID == 2 }.allSatisfy { $0.generation == 2 })
        }
    }
}

@Suite("Client side: miner against a fake pool", .serialized)
struct MinerSessionTests {
    static func run(
        channelType: MinerConfiguration.ChannelType, rolling: Bool = true, accepted: Int,
        _ body: (ClientTestLoop, ClientTestPoolState, MinerClient) throws -> Void = { _, _, _ in }
    ) throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let pool = ClientTestPoolState(shareTarget: clientTarget(oneIn: 65536))
        pool.versionRollingAllowed = rolling
        let events = ClientBox<[MinerEvent]>([])
        let handles = try runner.sync { () -> (ClientTestPoolServer, MinerClient) in
            let server = try startClientTestPool(runner.loop, state: pool)
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "alice.cpu", channelType: channelType, minExtranonceSize: 4,
                    cpu: CPUMinerConfiguration(workerCount: 2), hashrateInterval: .milliseconds(200)),
                server: clientTestConfiguration(server.localAddress!), eventLoop: runner.loop)
            client.mining.session.onEvent = { events.value.append($0) }
            client.connect()
            return (server, client)
        }
        let client = handles.1
        #expect(try runner.wait { client.mining.session.statistics.sharesAccepted >= accepted })
        try body(runner, pool, client)
        runner.inspect {
            let stats = client.mining.session.statistics
            #expect(stats.channelID == 1)
            #expect(stats.sharesRejected == 0, "rejections: \(stats.rejections)")
            #expect(pool.rejections.isEmpty, "pool rejected: \(pool.rejections)")
            #expect(stats.sharesSubmitted >= stats.sharesAccepted)
            #expect(pool.opened.first?.user == "alice.cpu")
            #expect(events.value.contains { if case .channelOpened = $0 { true } else { false } })
            #expect(events.value.contains { if case .sharesAccepted = $0 { true } else { false } })
        }
        try runner.sync {
            client.mining.session.stop()
            client.close()
        }
        _ = handles
    }

    /// SRI's pool_sv2 0.1.3 sends totals since the channel opened in SubmitShares.Success; the miner counts
    /// accepted shares from sequence numbers instead (taking the totals as deltas inflated the counter).
    @Test func cumulativeAcknowledgementsAreNotInflated() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let pool = ClientTestPoolState(shareTarget: clientTarget(oneIn: 65536))
        pool.cumulativeAcks = true
        let (server, client) = try runner.sync { () -> (ClientTestPoolServer, MinerClient) in
            let server = try startClientTestPool(runner.loop, state: pool)
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "alice", channelType: .extended, minExtranonceSize: 4,
                    cpu: CPUMinerConfiguration(workerCount: 1)),
                server: clientTestConfiguration(server.localAddress!), eventLoop: runner.loop)
            client.connect()
            return (server, client)
        }
        defer { withExtendedLifetime(server) {} }
        #expect(try runner.wait { pool.successMessages >= 5 })
        try runner.sync { client.mining.session.stop() }
        #expect(try runner.wait { client.mining.session.statistics.sharesAccepted == pool.totalAccepted })
        runner.inspect {
            let session = client.mining.session
            #expect(session.acknowledgements.semantics.isCumulative)
            #expect(session.acknowledgements.semantics.inconsistentCount == 0)
            #expect(session.statistics.acceptedWork == UInt64(pool.totalAccepted))
            #expect(session.builder.pending == 0)
            client.close()
        }
    }

    @Test func standardChannelSharesAreAccepted() throws {
        try Self.run(channelType: .standard, accepted: 10) { runner, _, client in
            // Hashrate is reported while running.
            let measured = try runner.wait { client.mining.session.statistics.hashrate > 0 }
            #expect(measured)
            runner.inspect { #expect(client.mining.session.statistics.totalHashes > 0) }
        }
    }

    @Test func extendedChannelSharesAreAccepted() throws {
        try Self.run(channelType: .extended, accepted: 10) { runner, pool, _ in
            runner.inspect {
                // Extended shares carry exactly the negotiated 4 rolled bytes.
                #expect(pool.acceptedShares.allSatisfy { $0.share.extranonce.count == 4 })
            }
        }
    }

    /// `SetExtranoncePrefix` applies to the jobs sent after it: with a future job waiting, the miner goes on with
    /// the running job under the prefix it was sent with, and its shares on it (submitted after the miner had the
    /// new prefix and the future job) are accepted by a pool that checks each job under its own prefix. At the
    /// future job's `SetNewPrevHash` the miner mines that job, under the new prefix, and those shares are accepted.
    @Test func extendedChannelKeepsTheRunningJobsPrefixUntilTheNextJobIsActive() throws {
        try Self.run(channelType: .extended, accepted: 3) { runner, pool, client in
            let newPrefix = Extranonce(bytes: [0xee, 0xee, 0xee, 0xee, 0x01])!  // one byte longer than the old one
            try runner.sync {
                try pool.changePrefix(of: 1, to: newPrefix)
                try pool.newFutureJob()
            }
            let session = client.mining.session
            #expect(try runner.wait { session.statistics.extranoncePrefix == newPrefix && session.statistics.jobsReceived >= 2 })
            let submittedAtSwitch = try runner.sync { session.statistics.sharesSubmitted }
            #expect(try runner.wait { session.statistics.sharesAccepted >= submittedAtSwitch + 3 })
            runner.inspect {
                #expect(session.tracker?.work?.jobID == 1 && pool.accepted[2] == nil)
                #expect(session.statistics.sharesRejected == 0 && pool.rejections.isEmpty, "\(pool.rejections)")
            }
            try runner.sync { try pool.activateFutureJob() }
            #expect(try runner.wait { (pool.accepted[2] ?? 0) >= 3 && session.tracker?.work?.jobID == 2 })
        }
    }

    @Test func extendedChannelWithoutVersionRolling() throws {
        try Self.run(channelType: .extended, rolling: false, accepted: 5) { runner, pool, _ in
            runner.inspect { #expect(pool.acceptedShares.allSatisfy { $0.share.version == 0x2000_0000 }) }
        }
    }

    @Test func harderTargetRestartsWorkWithoutDuplicates() throws {
        try Self.run(channelType: .extended, rolling: false, accepted: 5) { runner, pool, client in
            let before = try runner.sync { () -> Int in
                try pool.connections!.send(
                    SetTarget(channelID: 1, maximumTarget: WireConversions.u256(clientTarget(oneIn: 1 << 17))),
                    to: pool.channels[1]!.connection)
                return client.mining.session.statistics.sharesAccepted
            }
            let more = try runner.wait {
                client.mining.session.tracker?.work?.target == clientTarget(oneIn: 1 << 17)
                    && client.mining.session.statistics.sharesAccepted >= before + 5
            }
            #expect(more)
            // The restarted job began on a later ntime: nothing found before was found again.
            runner.inspect { #expect(client.mining.session.statistics.workUpdates == 2) }
        }
    }

    @Test func staleJobAbandonedOnSetNewPrevHash() throws {
        try Self.run(channelType: .standard, accepted: 3) { runner, pool, client in
            try runner.sync { try pool.newBlock() }
            #expect(try runner.wait { (pool.accepted[2] ?? 0) >= 5 })
            runner.inspect {
                let stats = client.mining.session.statistics
                #expect(stats.prevHashesReceived == 2)
                #expect(client.mining.session.tracker?.work?.jobID == 2)
                // Shares for job 1 that were already on the wire when the pool moved on are the only stale ones.
                #expect((pool.rejections["stale-share"] ?? 0) <= 3)
                pool.rejections["stale-share"] = nil
            }
        }
    }
}

@Suite("Client side: CPU miner speed", .serialized)
struct CPUMinerSpeedTests {
    /// Hashes at an unreachable target on one worker: the hash counter advances and nothing is found. (How fast is a
    /// benchmark's question, not a unit test's.)
    @Test func hashesAreCounted() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let job = ShareJob(
            standardJobID: 1, version: 0x2000_0000, prevHash: MinerJobTrackerTests.prevHash,
            merkleRoot: MinerJobTrackerTests.root, nbits: 0x1700_ffff, minNtime: 1000, target: Target(.zero))
        let found = ClientBox(0)
        let miner = try runner.sync {
            let miner = try CPUMiner(configuration: CPUMinerConfiguration(workerCount: 1), eventLoop: runner.loop) { _ in
                found.value += 1
            }
            try miner.start()
            miner.setWork(MiningWork(job: job, extranonceSize: 0))
            return miner
        }
        #expect(try runner.wait { miner.totalHashes > 100_000 })
        let first = try runner.sync { miner.totalHashes }
        #expect(try runner.wait { miner.totalHashes > first })
        try runner.sync { miner.stop() }
        #expect(try runner.sync { found.value } == 0)
    }
}
