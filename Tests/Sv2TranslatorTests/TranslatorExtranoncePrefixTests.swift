import Foundation
import Reactor
import Sv1
import Sv2Mining
import Sv2Translator
import Testing
import Sv2Pool
import Sv2Bitcoin

@Suite("Translator: following an upstream SetExtranoncePrefix", .serialized)
struct TranslatorExtranoncePrefixTests {
    static func start(_ mode: TranslatorChannelMode) throws -> (LoopRunner, PrefixChangingPool, Sv2Translator) {
        let runner = try LoopRunner(.epoll)
        let pool = PrefixChangingPool()
        let address = try runner.sync {
            try pool.start(runner.loop)
            return pool.localAddress!
        }
        let translator = try startTestTranslator(runner, upstream: address, authority: nil) { $0.channelMode = mode }
        return (runner, pool, translator)
    }

    /// Stops the translator and the pool, then the loop (the test's teardown).
    static func stop(_ runner: LoopRunner, _ pool: PrefixChangingPool, _ translator: Sv2Translator) {
        _ = try? runner.sync { translator.stop(); pool.stop() }
        runner.stop()
        withExtendedLifetime((pool, translator)) {}
    }

    /// The aggregated channel's two devices, each with two shares answered: `stays` takes `mining.set_extranonce`,
    /// `leaves` does not (it is sent to reconnect when the channel moves).
    static func twoMiningDevices(
        _ runner: LoopRunner, _ translator: Sv2Translator
    ) throws -> (stays: Sv1CPUDevice, leaves: Sv1CPUDevice) {
        let stays = try connectDevice(runner, to: translator, worker: "stays", subscribesToExtranonce: true)
        let leaves = try connectDevice(runner, to: translator, worker: "leaves")
        #expect(try mine(runner, stays, 2) && mine(runner, leaves, 2))
        return (stays, leaves)
    }

    /// Mines `count` shares on `device` and waits until all of its shares are answered.
    static func mine(_ runner: LoopRunner, _ device: Sv1CPUDevice, _ count: Int) throws -> Bool {
        try runner.sync { _ = device.mine(shares: count) }
        return try runner.wait { device.accepted + device.rejected.values.reduce(0, +) == device.submitted }
    }

    /// Aggregated: the channel's devices keep the old prefix until the channel's next job (the pool, which checks
    /// each share against the prefix of its job, accepts them), then every device moves: the one that takes
    /// `mining.set_extranonce` gets a new extranonce1 under the new prefix and a clean job and mines on; the other
    /// is sent to reconnect. The upstream link stays up throughout.
    @Test func theAggregatedChannelMovesEveryDeviceAtItsNextJob() throws {
        let (runner, pool, translator) = try Self.start(.aggregated)
        defer { Self.stop(runner, pool, translator) }
        let (stays, leaves) = try Self.twoMiningDevices(runner, translator)
        let (id, oldPrefix, before) = try runner.sync {
            (translator.upstreamChannel!.channelID, translator.upstreamChannel!.extranoncePrefix, stays.extranonce1!)
        }
        let newPrefix = Extranonce(bytes: [0xee, 0xee, 0xee, 0xee, 0x01])!  // one byte longer than the old one
        try runner.sync { try pool.changePrefix(of: id, to: newPrefix) }
        // The pool's acknowledgements follow its SetExtranoncePrefix on the stream: once they arrived, the translator
        // has the new prefix, and has not applied it (no job since).
        #expect(try Self.mine(runner, stays, 2))
        runner.inspect {
            #expect(stays.accepted == 4 && stays.extranonceUpdates == 0)
            #expect(translator.upstreamChannel?.extranoncePrefix == oldPrefix)
            #expect(translator.statistics.extranoncePrefixChanges == 0)
        }

        try runner.sync { try pool.newJob(for: id) }
        #expect(try runner.wait { stays.extranonceUpdates == 1 && stays.isReady && leaves.closed })
        runner.inspect {
            #expect(leaves.reconnects == 1)
            #expect(stays.reconnects == 0 && !stays.closed)
            #expect(stays.extranonce1 != before)
            #expect(stays.extranonce1?.starts(with: newPrefix.bytes) == true)
            #expect(stays.extranonce1?.count == before.count + 1)
            #expect(translator.upstreamChannel?.extranoncePrefix == newPrefix)
            #expect(translator.statistics.extranoncePrefixChanges == 1)
            #expect(translator.upstreamChannel?.channelID == id)  // same channel, same link
        }
        #expect(try Self.mine(runner, stays, 3))
        runner.inspect {
            #expect(stays.accepted == 7, "\(stays.rejected)")
            #expect(pool.channels[id]?.accepted == 9)
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
        }
    }

    /// A prefix change followed by a *future* job: the running job stays valid with the old prefix, so both devices
    /// keep mining it (no `mining.set_extranonce`, no reconnect, the same Sv1 job) and the pool accepts their shares
    /// on it, built under the old prefix; at the future job's `SetNewPrevHash` every device moves (the subscribed
    /// one onto the new prefix with a clean job whose shares are accepted, the other sent to reconnect).
    @Test func aFutureJobAfterAPrefixChangeLeavesTheDevicesMiningUntilItsPrevHash() throws {
        let (runner, pool, translator) = try Self.start(.aggregated)
        defer { Self.stop(runner, pool, translator) }
        let (stays, leaves) = try Self.twoMiningDevices(runner, translator)
        let (id, runningJob, before, sv1Job) = try runner.sync {
            (translator.upstreamChannel!.channelID, pool.jobID, stays.extranonce1!, stays.job?.jobID)
        }
        let newPrefix = Extranonce(bytes: [0xee, 0xee, 0xee, 0xee, 0x01])!  // one byte longer than the old one
        try runner.sync {
            try pool.changePrefix(of: id, to: newPrefix)
            try pool.newFutureJob(for: id)
        }
        // The pool's acknowledgements follow the future job on the stream: every share answered below was mined
        // after the translator had it, on the running job, with the old extranonce1.
        #expect(try Self.mine(runner, stays, 3) && Self.mine(runner, leaves, 3))
        runner.inspect {
            #expect(stays.accepted == 5 && leaves.accepted == 5, "\(stays.rejected) \(leaves.rejected)")
            #expect(pool.acceptedJobs[runningJob] == 10)
            #expect(stays.extranonceUpdates == 0 && stays.extranonce1 == before && stays.job?.jobID == sv1Job)
            #expect(!leaves.closed && leaves.reconnects == 0)
            #expect(translator.upstreamChannel?.extranoncePrefix == newPrefix)  // for the future job
            #expect(translator.upstreamChannel?.activeExtranoncePrefix != newPrefix)
            #expect(translator.statistics.extranoncePrefixChanges == 0)
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
        }

        try runner.sync { try pool.activateFutureJob(for: id) }
        #expect(try runner.wait { stays.extranonceUpdates == 1 && stays.isReady && stays.job?.jobID != sv1Job && leaves.closed })
        runner.inspect {
            #expect(leaves.reconnects == 1)
            #expect(stays.extranonce1?.starts(with: newPrefix.bytes) == true && stays.extranonce1?.count == before.count + 1)
            #expect(translator.upstreamChannel?.activeExtranoncePrefix == newPrefix)
            #expect(translator.statistics.extranoncePrefixChanges == 1)
        }
        #expect(try Self.mine(runner, stays, 3))
        runner.inspect {
            #expect(stays.accepted == 8, "\(stays.rejected)")
            #expect(pool.acceptedJobs[runningJob + 1] == 3)
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
        }
    }

    /// Per device: a prefix change moves only the device of that channel (`mining.set_extranonce`, clean job, its
    /// shares accepted under the new prefix); the others notice nothing. On the channel of a device that does not
    /// take `mining.set_extranonce`, the device is sent to reconnect and its channel closed upstream.
    @Test func aDeviceChannelMovesOnlyItsDevice() throws {
        let (runner, pool, translator) = try Self.start(.perDevice)
        defer { Self.stop(runner, pool, translator) }
        let a = try connectDevice(runner, to: translator, worker: "a", subscribesToExtranonce: true)
        let b = try connectDevice(runner, to: translator, worker: "b", subscribesToExtranonce: true)
        let c = try connectDevice(runner, to: translator, worker: "c")
        for device in [a, b, c] { #expect(try Self.mine(runner, device, 1)) }
        let homes = try runner.sync {
            [a, b, c].map { device in
                pool.channels.first { device.extranonce1!.starts(with: $0.value.prefix.bytes) }!.key
            }
        }
        #expect(Set(homes).count == 3)
        let (bNotifies, bExtranonce) = try runner.sync { (b.notifies, b.extranonce1) }

        let newPrefix = Extranonce(bytes: [0xee, 0xee, 0xee, 0x01])!
        try runner.sync {
            try pool.changePrefix(of: homes[0], to: newPrefix)
            try pool.newJob(for: homes[0])
        }
        #expect(try runner.wait { a.extranonceUpdates == 1 && a.isReady })
        #expect(try Self.mine(runner, a, 2) && Self.mine(runner, b, 1))
        runner.inspect {
            #expect(a.accepted == 3 && a.extranonce1?.starts(with: newPrefix.bytes) == true)
            #expect(b.accepted == 2 && b.extranonceUpdates == 0 && b.notifies == bNotifies && b.extranonce1 == bExtranonce)
            #expect(translator.upstreamChannels[homes[0]]?.extranoncePrefix == newPrefix)
            #expect(translator.statistics.extranoncePrefixChanges == 1)
        }

        try runner.sync {
            try pool.changePrefix(of: homes[2], to: Extranonce(bytes: [0xee, 0xee, 0xee, 0x02])!)
            try pool.newJob(for: homes[2])
        }
        #expect(try runner.wait { c.closed && pool.closed == [homes[2]] })
        runner.inspect {
            #expect(c.reconnects == 1)
            #expect(translator.upstreamChannels.count == 2)
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
        }
    }
}
