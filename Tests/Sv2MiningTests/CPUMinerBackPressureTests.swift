import Dispatch
import Foundation
import Reactor
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Miner

/// The CPU miner against a loop that is behind: it never queues more than one task on the loop, and what reaches
/// the loop afterwards is the best of what was found meanwhile, not the first.
@Suite("Client side: CPU miner back-pressure", .serialized)
struct CPUMinerBackPressureTests {
    @Test func keepsTheBestSharesWhileTheLoopIsBehind() throws {
        let runner = try ClientTestLoop(.epoll)
        defer { runner.stop() }
        // Every hash is a share; the network target is far away (no blocks).
        let job = ShareJob(
            standardJobID: 1, version: 0x2000_0000, prevHash: MinerJobTrackerTests.prevHash,
            merkleRoot: MinerJobTrackerTests.root, nbits: 0x1700_ffff, minNtime: 1000, target: clientTarget(oneIn: 1))
        let found = ClientBox<[FoundShare]>([])
        let kept = 64
        let miner = try runner.sync {
            let miner = try CPUMiner(
                configuration: CPUMinerConfiguration(workerCount: 1, chunkSize: 256, maxQueuedShares: kept),
                eventLoop: runner.loop) { found.value.append($0) }
            try miner.start()
            miner.setWork(MiningWork(job: job, extranonceSize: 0))
            return miner
        }
        defer { _ = try? runner.sync { miner.stop() } }
        #expect(try runner.wait { found.value.count > 0 })

        // The loop stops taking work (parked) while the worker keeps finding a share per hash.
        let parked = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        runner.loop.execute {
            parked.signal()
            resume.wait()
        }
        parked.wait()
        // Counted from the moment the loop is parked: the mailbox may already have overflowed before (a busy loop).
        let droppedBefore = miner.droppedShares
        let deadline = Date().addingTimeInterval(20)
        while miner.droppedShares < droppedBefore + 2_000 && Date() < deadline { usleep(2_000) }
        let pending = runner.loop.pendingTaskCount
        let deliveredBefore = found.value.count  // the loop is parked: nothing appends meanwhile
        resume.signal()
        #expect(miner.droppedShares >= droppedBefore + 2_000, "worker too slow to overrun the mailbox in 20 s")
        #expect(pending <= 1, "\(pending) tasks queued on the loop by one miner")

        // The first batch after the stall: the mailbox's `kept` shares, the best of thousands found meanwhile — so
        // all of them in the lowest quarter of the hash range (the first `kept` found would spread over all of it).
        #expect(try runner.wait { found.value.count >= deliveredBefore + kept })
        let batch = try runner.sync { Array(found.value[deliveredBefore..<(deliveredBefore + kept)]) }
        let quarter = UInt256(1) << 254
        let outside = batch.filter { $0.hash.numericValue >= quarter }.count
        #expect(outside == 0, "\(outside) of the \(kept) shares delivered after the stall are not among the best")
    }
}
