import Foundation
import Reactor
import Sv1
import Sv2Mining
import Sv2Translator
import Testing
import Sv2Pool
import Sv2Bitcoin

@Suite("Translator: per-device channel routing (groups, abandoned requests)", .serialized)
struct TranslatorChannelRoutingTests {
    /// Per device, the upstream groups two device channels and sends one job to the group id: both devices get it
    /// (each under its own extranonce1) and their shares on it are accepted on their own channels.
    @Test func aJobSentToAGroupReachesEveryMemberChannel() throws {
        let (runner, pool, translator) = try TranslatorExtranoncePrefixTests.start(.perDevice)
        defer {
            _ = try? runner.sync { translator.stop(); pool.stop() }
            runner.stop()
            withExtendedLifetime((pool, translator)) {}
        }
        let a = try connectDevice(runner, to: translator, worker: "a")
        let b = try connectDevice(runner, to: translator, worker: "b")
        let (members, notifies) = try runner.sync { (pool.channels.keys.sorted(), (a.notifies, b.notifies)) }
        #expect(members.count == 2)
        try runner.sync { try pool.groupJob(100, members: members) }
        #expect(try runner.wait { a.notifies > notifies.0 && b.notifies > notifies.1 })
        #expect(try TranslatorExtranoncePrefixTests.mine(runner, a, 2) && TranslatorExtranoncePrefixTests.mine(runner, b, 2))
        runner.inspect {
            #expect(a.accepted == 2 && b.accepted == 2)
            #expect(pool.acceptedJobs[pool.jobID] == 4)  // all on the group's job
            #expect(members.allSatisfy { pool.channels[$0]?.accepted == 2 })
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
        }
    }

    /// A device that leaves before its channel is open: the channel is closed as soon as the pool opens it, and
    /// nothing else happens.
    @Test func aChannelOpenedForADeviceThatLeftIsClosed() throws {
        let (runner, pool, translator) = try TranslatorExtranoncePrefixTests.start(.perDevice)
        defer {
            _ = try? runner.sync { translator.stop(); pool.stop() }
            runner.stop()
            withExtendedLifetime((pool, translator)) {}
        }
        try runner.sync { pool.holdOpens = true }
        let device = try connectDevice(runner, to: translator, worker: "gone", waitUntilReady: false)
        #expect(try runner.wait { pool.heldOpens.count == 1 })
        try runner.sync { device.close() }
        #expect(try runner.wait { translator.deviceCount == 0 })
        try runner.sync { try pool.answerHeldOpens() }
        #expect(try runner.wait { pool.closed.count == 1 })
        runner.inspect {
            #expect(pool.channels.isEmpty)
            #expect(translator.upstreamChannels.isEmpty)
            #expect(translator.statistics.channelsClosed == 1 && translator.statistics.channelsOpened == 0)
            #expect(device.extranonce1 == nil)
        }
        // The link is still up: the next device gets a channel.
        let next = try connectDevice(runner, to: translator, worker: "next")
        #expect(try TranslatorExtranoncePrefixTests.mine(runner, next, 1))
        #expect(try runner.sync { next.accepted == 1 && translator.upstreamChannels.count == 1 })
    }
}
