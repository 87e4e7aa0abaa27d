import Foundation
import Reactor
import Sv1
import Sv2Bitcoin
import Sv2Noise
import Sv2Service
import Sv2Translator
import Testing

@Suite("Translator: Sv1 devices → translator → pool (loopback)", .serialized)
struct TranslatorEndToEndTests {
    /// Sv1 devices rolling version bits, through the translator over Noise to our pool: shares accepted by the
    /// pool and acknowledged back to the right device, and blocks found and accepted by the embedded template
    /// source.
    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func sharesAndBlocksFlowThroughNoise(backend: ReactorBackend) throws {
        let bed = try TranslatorTestBed(backend)
        defer { bed.stop() }
        let runner = bed.runner
        let authority = try AuthorityKeyPair.generate()
        let (service, translator) = try bed.startPoolAndTranslator(authority: authority)
        let a = try connectDevice(runner, to: translator, worker: "rig-a")
        let b = try connectDevice(runner, to: translator, worker: "rig-b", versionMask: nil)  // no version rolling
        defer { _ = try? runner.sync { a.close(); b.close() } }

        runner.inspect {
            #expect(a.versionMask == 0x1fff_e000)  // what it asked for, inside BIP320's 0x1fffe000
            #expect(b.versionMask == 0)
            // Disjoint extranonce1 carved from the upstream channel's prefix.
            #expect(a.extranonce1 != b.extranonce1)
            #expect(a.extranonce1?.count == b.extranonce1?.count)
            #expect(a.extranonce2Size == 4)
            #expect(a.job?.merkleBranch.count == 2)  // coinbase + 3 transactions
        }
        // Mine until the template source accepted two blocks, each device got shares accepted (bounded).
        var rounds = 0
        var done = false
        while !done, rounds < 400 {
            rounds += 1
            try runner.sync {
                a.mine(shares: 8)
                b.mine(shares: 8)
            }
            done = try runner.sync {
                (service.embeddedTemplateProvider?.acceptedBlocks.count ?? 0) >= 2 && a.accepted >= 20 && b.accepted >= 20
            }
        }
        // Let every answer arrive (the pool batches acknowledgements).
        let settled = try runner.wait {
            a.accepted + a.rejected.values.reduce(0, +) == a.submitted
                && b.accepted + b.rejected.values.reduce(0, +) == b.submitted
        }
        runner.inspect {
            let s = translator.statistics
            let report = "a \(a.accepted)/\(a.submitted) \(a.rejected), b \(b.accepted)/\(b.submitted) \(b.rejected), translator \(s), pool \(service.pool.statistics)"
            #expect(done, "\(report)")
            #expect(settled, "\(report)")
            // Only stale shares (a block moved the tip while they were in flight) may be refused.
            #expect(Set(a.rejected.keys).isSubset(of: [21]) && Set(b.rejected.keys).isSubset(of: [21]), "\(report)")
            // Every device share met the pool's target, so every one was forwarded and answered by the pool.
            #expect(s.sharesForwarded == s.sharesValid)
            #expect(s.upstreamAccepted + s.upstreamRejected + s.upstreamLost == s.sharesForwarded)
            #expect(service.pool.statistics.sharesAccepted >= s.upstreamAccepted)
            // Our pool acknowledges per message (spec): every ack's count matched the sequence progress.
            #expect(!translator.upstreamSemantics.isCumulative)
            #expect(s.upstreamInconsistentAcks == 0)
            let perDevice = translator.deviceShares.values.map(\.upstreamAccepted).sorted()
            #expect(perDevice == [UInt64(a.accepted), UInt64(b.accepted)].sorted())
            // Version rolling: a's shares carried many rolled versions and the pool accepted them.
            #expect(a.rolledVersions.count >= 20)
            #expect(b.rolledVersions.isEmpty)
            let blocks = service.embeddedTemplateProvider!.acceptedBlocks
            #expect(blocks.count >= 2)
            #expect(s.blocksFound >= UInt64(blocks.count))
            for block in blocks { #expect(Target(compact: block.header.nbits)?.isMet(by: block.hash) == true) }
        }
    }

    /// Per-device vardiff: a device submitting far more than `--shares-per-minute` gets a harder difficulty
    /// (set_difficulty + the job again under a new id), and its shares at the new difficulty are accepted.
    @Test func vardiffRaisesTheDifficultyOfAFastDevice() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator(translator: {
            $0.sharesPerMinute = 6
            $0.vardiffWindow = 0.3
        })
        let device = try connectDevice(runner, to: translator)
        defer { _ = try? runner.sync { device.close() } }
        let first = try runner.sync { device.difficulties.first! }
        #expect(first == testDeviceDifficulty)
        // Submit until the translator retargets (a window is 0.3 s; bounded by rounds, not by time).
        var rounds = 0
        while try runner.sync({ device.difficulties.count }) < 2, rounds < 2000 {
            rounds += 1
            try runner.sync { _ = device.mine(shares: 2) }
        }
        let notifiesBefore = try runner.sync { device.notifies }
        runner.inspect {
            #expect(device.difficulties.count >= 2, "no retarget after \(device.submitted) shares")
            #expect(device.difficulties[1] > first)
            #expect(device.difficulties[1] <= first * 4 * 1.0001)  // one step of at most ×4
            #expect(translator.statistics.retargets >= 1)
        }
        // Shares at the new difficulty are accepted.
        let acceptedBefore = try runner.sync { device.accepted }
        let mined = try runner.sync { device.mine(shares: 5) }
        let answered = try runner.wait { device.accepted + device.rejected.values.reduce(0, +) == device.submitted }
        runner.inspect {
            #expect(mined == 5)
            #expect(answered)
            // A share that was a block moves the tip, so a later one of the five may be stale; most are accepted.
            #expect(device.accepted >= acceptedBefore + 3, "accepted \(device.accepted - acceptedBefore), \(device.rejected)")
        }
        runner.inspect {
            #expect(notifiesBefore >= 2)  // the job came again with the new difficulty
            #expect(Set(device.rejected.keys).isSubset(of: [21]))
        }
    }

    /// Per-device vardiff, the other way: a device that submits nothing gets an easier difficulty from the
    /// translator's vardiff timer (one ×4 step per window), never below the minimum difficulty.
    @Test func vardiffLowersTheDifficultyOfASilentDevice() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator(translator: {
            $0.deviceHashrate = 1e6  // first difficulty well above the minimum
            // 20 shares expected per 0.2 s window: a silent window is far outside Poisson noise (at the default
            // 20/min a 0.2 s window expects 0.07 shares, and silence rightly changes nothing).
            $0.sharesPerMinute = 6_000
            $0.vardiffWindow = 0.2
        })
        let device = try connectDevice(runner, to: translator)
        defer { _ = try? runner.sync { device.close() } }
        #expect(try runner.wait { device.difficulties.count >= 3 })
        runner.inspect {
            let steps = zip(device.difficulties, device.difficulties.dropFirst())
            #expect(steps.allSatisfy { $1 < $0 && $1 >= $0 / 4 * 0.9999 }, "\(device.difficulties)")
            #expect(device.difficulties.allSatisfy { $0 >= testDeviceDifficulty * 0.9999 })
            #expect(device.notifies >= 3)  // every new difficulty comes with the job again
        }
    }

    /// A device's duplicate filter filling up never forgets a share: its jobs are retired and the running job
    /// comes again with an ntime above every accepted share, and the device keeps getting shares accepted.
    @Test func fullDuplicateFilterRenewsTheJobAndLosesNothing() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        // No block: one chain tip.
        let (_, translator) = try bed.startPoolAndTranslator(nbits: 0x1d00_ffff, translator: {
            $0.duplicateFilterCapacity = 16  // full at 12 shares
        })
        let device = try connectDevice(runner, to: translator)
        defer { _ = try? runner.sync { device.close() } }
        let (startNotifies, startNtime) = try runner.sync { (device.notifies, device.job!.ntime) }
        for _ in 0..<10 {
            try runner.sync { _ = device.mine(shares: 3) }
            #expect(try runner.wait { device.accepted + device.rejected.values.reduce(0, +) == device.submitted })
        }
        runner.inspect {
            #expect(device.submitted == 30)
            // Shares sent before the renewed job arrived are stale (21); every other one is accepted.
            #expect(Set(device.rejected.keys).isSubset(of: [21]), "\(device.rejected)")
            #expect(device.accepted >= 24, "accepted \(device.accepted), \(device.rejected)")
            #expect(translator.statistics.jobRenewals >= 2)
            #expect(device.notifies >= startNotifies + 2)
            #expect(device.job!.ntime > startNtime)
        }
    }

    /// 2,000 Sv1 connections through one translator: every device subscribes with its own extranonce1, submits
    /// one share, and every share is answered `true` (nothing lost).
    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func twoThousandDevicesNothingLost(backend: ReactorBackend) throws {
        let bed = try TranslatorTestBed(backend, stopWait: 20)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator()
        let count = 2_000
        let devices = try runner.sync {
            (0..<count).map { index in
                let device = Sv1CPUDevice(eventLoop: runner.loop, worker: "rig-\(index)", versionMask: index % 2 == 0 ? 0x1fff_e000 : nil)
                device.connect(to: translator.localAddress!)
                return device
            }
        }
        defer { _ = try? runner.sync { for device in devices { device.close() } } }
        #expect(try runner.wait(timeout: 60) { devices.allSatisfy(\.isReady) })
        runner.inspect {
            #expect(Set(devices.compactMap(\.extranonce1)).count == count)
            #expect(translator.deviceCount == count)
        }
        // One share each, in batches so the loop keeps serving; then every answer arrives.
        for start in stride(from: 0, to: count, by: 100) {
            try runner.sync { for device in devices[start..<Swift.min(start + 100, count)] { device.mine(shares: 1) } }
        }
        let answered = try runner.wait(timeout: 60) {
            devices.allSatisfy { $0.accepted + $0.rejected.values.reduce(0, +) == $0.submitted }
        }
        runner.inspect {
            let submitted = devices.reduce(0) { $0 + $1.submitted }
            let accepted = devices.reduce(0) { $0 + $1.accepted }
            let stale = devices.reduce(0) { $0 + ($1.rejected[21] ?? 0) }
            #expect(answered)
            #expect(submitted == count)
            // A block found by one device moves the tip: shares in flight then are stale, never lost.
            #expect(accepted + stale == count, "accepted \(accepted), stale \(stale), \(translator.statistics)")
            #expect(devices.allSatisfy { Set($0.rejected.keys).isSubset(of: [21]) })
            #expect(translator.statistics.sharesReceived == UInt64(count))
            #expect(translator.statistics.upstreamAccepted + translator.statistics.upstreamRejected
                == translator.statistics.sharesForwarded)
        }
    }

    /// Fail-over: with two pools in order, the translator mines on the first; when it goes away, devices are sent
    /// to reconnect, the translator moves to the second pool, and a reconnecting device's shares are accepted there.
    @Test func failsOverToTheSecondPool() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let failover = try bed.startFailover(secondServing: true)
        let (first, second, translator) = (failover.first, try #require(failover.second), failover.translator)
        let before = try connectDevice(runner, to: translator, worker: "before")
        try runner.sync { _ = before.mine(shares: 3) }
        #expect(try runner.wait { before.accepted == 3 })
        #expect(try runner.sync { first.pool.statistics.sharesAccepted } >= 3)

        try runner.sync { first.stop() }
        #expect(try runner.wait { before.closed && before.reconnects == 1 })
        let after = try connectDevice(runner, to: translator, worker: "after")
        try runner.sync { _ = after.mine(shares: 3) }
        #expect(try runner.wait { after.accepted == 3 })
        runner.inspect {
            #expect(translator.failover?.current == failover.endpoints[1])
            #expect(second.pool.statistics.sharesAccepted >= 3)
            #expect(after.rejected.isEmpty)
        }
    }

    /// Fail-over with devices that sent `mining.extranonce.subscribe`: they stay connected, shares sent while no
    /// upstream channel is open are answered `upstream-unavailable` (never accepted unforwarded), and on the second
    /// pool's channel they get `mining.set_extranonce` and a clean job, and their shares are accepted there. A device
    /// without the subscription is sent away as before.
    @Test func devicesThatTakeSetExtranonceStayConnectedThroughFailover() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        // The second pool's address is taken now and served only later, so the outage lasts until the test ends it.
        let failover = try bed.startFailover(secondServing: false)
        let (first, translator) = (failover.first, failover.translator)
        let stays = try connectDevice(runner, to: translator, worker: "stays", subscribesToExtranonce: true)
        let leaves = try connectDevice(runner, to: translator, worker: "leaves")
        try runner.sync { _ = stays.mine(shares: 2) }
        #expect(try runner.wait { stays.accepted == 2 })
        let before = try runner.sync { stays.extranonce1 }

        try runner.sync { first.stop() }
        #expect(try runner.wait { leaves.closed && leaves.reconnects == 1 })
        // No pool is listening: the kept device's share is answered upstream-unavailable, never accepted unforwarded.
        try runner.sync { _ = stays.mine(shares: 1) }
        #expect(try runner.wait { stays.rejected[Sv1ErrorCode.other.rawValue] == 1 })
        #expect(try runner.sync { !stays.closed && translator.statistics.rejections["upstream-unavailable"] == 1 })

        // The second pool (other prefixes: its first ids are reserved) comes up at the address the translator retries.
        let second = try bed.startPool(nbits: 0x1d00_ffff, reservedExtranonceIDs: 5, at: failover.secondAddress)
        #expect(try runner.wait { stays.extranonceUpdates == 1 && stays.isReady })
        try runner.sync { _ = stays.mine(shares: 3) }
        #expect(try runner.wait { stays.accepted == 5 })
        runner.inspect {
            #expect(!stays.closed && stays.reconnects == 0)
            #expect(stays.extranonce1 != before && stays.extranonce1 != nil)
            #expect(stays.submitted == 6 && stays.rejected.values.reduce(0, +) == 1)
            #expect(translator.failover?.current == failover.endpoints[1])
            #expect(translator.statistics.devicesKeptOnUpstreamLoss == 1)
            #expect(translator.statistics.extranonceUpdates == 1)
            #expect(second.pool.statistics.sharesAccepted >= 3)
        }
    }

    /// Upstream loss: every device gets `client.reconnect` and is closed; nothing waits forever.
    @Test func upstreamLossSendsDevicesAway() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (service, translator) = try bed.startPoolAndTranslator()
        let device = try connectDevice(runner, to: translator)
        try runner.sync { service.stop() }
        #expect(try runner.wait { device.closed && device.reconnects == 1 })
        #expect(try runner.sync { translator.upstreamChannel == nil && translator.deviceCount == 0 })
    }
}
