import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// Share credit is exact: each share is credited at the target it was validated against, sums never wrap, and a
/// filled duplicate filter never lets an accepted share be accepted again (issue 12, items 6 and 7).
@Suite struct ShareCreditTests {
    static let genesis = PoolTests.genesis

    /// A pool with a chain tip whose network target no test share reaches by accident.
    static func poolWithTip(_ configure: (inout PoolConfiguration) -> Void = { _ in }) throws -> (Pool, TemplateChainTip) {
        let pool = try PoolTests.makePool {
            $0.ackBatchSize = 1
            $0.minimumDifficulty = 1e-6
            configure(&$0)
        }
        let source = EmbeddedTemplateSource(
            configuration: .init(nbits: 0x1d00_ffff), prevHash: genesis, now: 1_700_000_000)
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        return (pool, source.chainTip)
    }

    /// The exploit from the issue: open at 1 H/s, ask for 3e38 H/s with UpdateChannel, keep submitting easy shares
    /// on the old job. Each must be credited at the old job's difficulty, not at the new one (which wrapped sums).
    @Test func sharesOnAnOldJobAreCreditedAtThatJobsTarget() throws {
        let (pool, tip) = try Self.poolWithTip()
        let miner = try PoolUnitMiner(pool: pool, connection: 1, hashrate: 1, tip: tip)
        let easy = try #require(pool.target(ofChannel: miner.channelID))
        let oldJob = miner.jobID

        let first = try miner.submit(miner.ordinaryShare(meeting: easy))
        #expect(first.compactMap { $0 as? SubmitSharesSuccess }.map(\.newSharesSum) == [1])

        let recorder = Recorder()
        try withView(of: UpdateChannel(channelID: miner.channelID, nominalHashRate: 3e38, maximumTarget: .max)) {
            try pool.updateChannel($0, reply: RecordingSink(recorder: recorder))
        }
        let hard = try #require(pool.target(ofChannel: miner.channelID))
        #expect(hard < easy)
        // UpdateChannel is bounded by the maximum difficulty (finite by default).
        #expect(hard.difficulty <= PoolConfiguration.defaultMaximumDifficulty * 1.0001)

        var credited: [UInt64] = []
        for _ in 0..<5 {
            let replies = try miner.submit(miner.ordinaryShare(meeting: easy, job: oldJob))
            credited += replies.compactMap { $0 as? SubmitSharesSuccess }.map(\.newSharesSum)
        }
        #expect(credited == [1, 1, 1, 1, 1])
        #expect(pool.statistics.sharesAccepted == 6)
        #expect(pool.statistics.acceptedWork < 1e-3)  // six shares at difficulty 1e-6, not at 1e15
    }

    @Test func creditSumsSaturateInsteadOfWrapping() {
        #expect(ShareCredit.adding(.max - 1, to: 5) == .max)
        #expect(ShareCredit.adding(3, to: 4) == 7)
        #expect(ShareCredit(target: .max).weight == 1)
        let hard = Target(difficulty: 1e30)!
        #expect(ShareCredit(target: hard).weight == UInt64(0x1p63))
    }

    /// The filter used to clear itself when 3/4 full, after which earlier shares could be replayed for credit.
    @Test func aFullDuplicateFilterNeverForgetsAnAcceptedShare() throws {
        let (pool, tip) = try Self.poolWithTip { $0.duplicateFilterCapacity = 16 }  // full at 12 shares
        let miner = try PoolUnitMiner(pool: pool, connection: 1, hashrate: 1, tip: tip)
        let target = try #require(pool.target(ofChannel: miner.channelID))
        var accepted: [SubmitSharesStandard] = []
        var fresh: [any Sv2Message] = []
        for _ in 0..<12 {
            let share = miner.ordinaryShare(meeting: target)
            let replies = try miner.submit(share)
            #expect(replies.contains { $0 is SubmitSharesSuccess })
            accepted.append(share)
            fresh += replies
        }
        // The twelfth share filled the filter: the channel's jobs were retired and a fresh job went out whose
        // min_ntime is above every ntime accepted so far.
        #expect(pool.statistics.duplicateFilterRollovers == 1)
        let renewed = try #require(fresh.compactMap { $0 as? NewMiningJob }.last)
        let highest = accepted.map(\.ntime).max()!
        #expect(renewed.minNtime.map { $0 > highest } == true)

        // Every earlier share replayed, on its own job or on the new one, is refused and never credited.
        let creditedBefore = pool.statistics.sharesAccepted
        for share in accepted {
            var replay = share
            let onOldJob = try miner.submit(replay)
            #expect(onOldJob.compactMap { $0 as? SubmitSharesError }.map(\.errorCode) == ["stale-share"])
            replay.jobID = renewed.jobID
            let onNewJob = try miner.submit(replay)
            #expect(onNewJob.compactMap { $0 as? SubmitSharesError }.map(\.errorCode) == ["stale-share"])
        }
        #expect(pool.statistics.sharesAccepted == creditedBefore)

        // New work on the new job is accepted.
        miner.follow(fresh)
        let next = try miner.submit(miner.ordinaryShare(meeting: target))
        #expect(next.contains { $0 is SubmitSharesSuccess })
    }

    @Test func filterInsertsBeyondItsLimitStillReportDuplicates() {
        var filter = DuplicateShareFilter(initialCapacity: 8, maximumCapacity: 8)
        var hashes: [Hash256] = []
        for index in 0..<40 {
            var bytes = [UInt8](repeating: 0, count: 32)
            bytes[0] = UInt8(index + 1)
            bytes[9] = UInt8(index * 7 & 0xff)
            hashes.append(Hash256(bytes: bytes)!)
        }
        let firstTime = hashes.map { filter.insert($0) }
        #expect(firstTime.allSatisfy { $0 })
        #expect(filter.isFull)
        let again = hashes.map { filter.insert($0) }
        #expect(again.allSatisfy { !$0 })
        #expect(filter.storedCount == 40)
    }
}
