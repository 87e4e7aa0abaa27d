import Foundation
import Reactor
import Sv1
import Sv2Mining
import Sv2Service
import Sv2Translator
import Testing
import Sv2Pool
import Sv2Bitcoin

/// The upstream channel whose pool-side prefix starts `extranonce1`, and the rest of `extranonce1`.
private func channel(of extranonce1: [UInt8]?, in service: PoolService, among ids: [UInt32]) -> (UInt32, [UInt8])? {
    guard let extranonce1 else { return nil }
    for id in ids {
        guard let prefix = service.pool.extranoncePrefix(ofChannel: id)?.bytes,
              extranonce1.starts(with: prefix) else { continue }
        return (id, Array(extranonce1.dropFirst(prefix.count)))
    }
    return nil
}

@Suite("Translator: one upstream channel per device (loopback)", .serialized)
struct TranslatorPerDeviceTests {
    /// Three Sv1 devices through a translator in per-device mode to our pool: the pool sees three channels (one
    /// connection), each device's extranonce1 is its own channel's prefix, shares are accepted and credited on the
    /// channel of the device that found them, a block is found, and a device that leaves closes its channel.
    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func everyDeviceMinesOnItsOwnChannel(backend: ReactorBackend) throws {
        let bed = try TranslatorTestBed(backend)
        defer { bed.stop() }
        let runner = bed.runner
        let (service, translator) = try bed.startPoolAndTranslator(translator: { $0.channelMode = .perDevice })
        let devices = try ["rig-a", "rig-b", "rig-c"].enumerated().map { index, worker in
            try connectDevice(runner, to: translator, worker: worker, versionMask: index == 1 ? nil : 0x1fff_e000)
        }
        defer { _ = try? runner.sync { for device in devices { device.close() } } }

        let ids = try runner.sync { Array(translator.upstreamChannels.keys).sorted() }
        let homes = try runner.sync { devices.map { channel(of: $0.extranonce1, in: service, among: ids) } }
        runner.inspect {
            #expect(ids.count == 3)
            #expect(service.pool.openChannelCount == 3)
            #expect(translator.statistics.upstreamChannels == 3 && translator.statistics.channelsOpened == 3)
            #expect(translator.upstreamChannel == nil)  // no shared channel in this mode
            // Each device is on its own channel: extranonce1 = that channel's prefix ‖ zero padding.
            #expect(homes.allSatisfy { $0 != nil }, "\(homes)")
            #expect(Set(homes.compactMap { $0?.0 }).count == 3)
            #expect(homes.allSatisfy { $0?.1.allSatisfy { $0 == 0 } == true })
            #expect(devices.allSatisfy { $0.extranonce2Size == 4 })
            #expect(Set(translator.deviceChannels.values) == Set(ids))
        }
        // Mine until the template source accepted a block and every device got shares accepted (bounded).
        var rounds = 0
        var done = false
        while !done, rounds < 400 {
            rounds += 1
            try runner.sync { for device in devices { device.mine(shares: 4) } }
            done = try runner.sync {
                (service.embeddedTemplateProvider?.acceptedBlocks.count ?? 0) >= 1 && devices.allSatisfy { $0.accepted >= 10 }
            }
        }
        let settled = try runner.wait {
            devices.allSatisfy { $0.accepted + $0.rejected.values.reduce(0, +) == $0.submitted }
        }
        runner.inspect {
            let s = translator.statistics
            let report = devices.map { "\($0.worker) \($0.accepted)/\($0.submitted) \($0.rejected)" }.joined(separator: ", ")
                + ", translator \(s), pool \(service.pool.statistics)"
            #expect(done, "\(report)")
            #expect(settled, "\(report)")
            // Only stale shares (a block moved the tip while they were in flight) may be refused.
            #expect(devices.allSatisfy { Set($0.rejected.keys).isSubset(of: [21]) }, "\(report)")
            #expect(s.sharesForwarded == s.sharesValid)
            #expect(s.upstreamAccepted + s.upstreamRejected + s.upstreamLost == s.sharesForwarded)
            #expect(s.upstreamInconsistentAcks == 0)
            // Credited per channel: the pool's count on each device's channel is that device's accepted shares.
            for (device, home) in zip(devices, homes) {
                guard let (id, _) = home else { continue }
                #expect(service.pool.shareCounts(ofChannel: id)?.accepted == UInt64(device.accepted), "\(device.worker)")
            }
            #expect(devices[0].rolledVersions.count >= 10 && devices[1].rolledVersions.isEmpty)
            let blocks = service.embeddedTemplateProvider!.acceptedBlocks
            #expect(blocks.count >= 1)
            #expect(s.blocksFound >= UInt64(blocks.count))
        }

        // A device that leaves closes its channel upstream; the others keep mining on theirs.
        try runner.sync { devices[2].close() }
        #expect(try runner.wait { service.pool.openChannelCount == 2 && translator.upstreamChannels.count == 2 })
        runner.inspect {
            #expect(translator.statistics.channelsClosed == 1)
            #expect(service.pool.statistics.channelsClosed == 1)
            #expect(translator.upstreamChannels[homes[2]!.0] == nil)
        }
        let before = try runner.sync { devices[0].accepted }
        try runner.sync { _ = devices[0].mine(shares: 3) }
        #expect(try runner.wait { devices[0].accepted + devices[0].rejected.values.reduce(0, +) == devices[0].submitted })
        #expect(try runner.sync { devices[0].accepted } >= before + 2)
    }

    /// A channel the pool refuses answers that device's subscribe with a JSON-RPC error (the others mine on); once a
    /// device leaves, its channel is closed and a new device gets one.
    @Test func aRefusedChannelAnswersTheSubscribeWithAnError() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (service, translator) = try bed.startPoolAndTranslator(
            pool: { $0.maximumChannelsPerConnection = 2 }, translator: { $0.channelMode = .perDevice })
        let a = try connectDevice(runner, to: translator, worker: "a")
        let b = try connectDevice(runner, to: translator, worker: "b")
        let refused = try connectDevice(runner, to: translator, worker: "refused", waitUntilReady: false)
        #expect(try runner.wait { !refused.otherErrors.isEmpty })
        runner.inspect {
            #expect(refused.extranonce1 == nil && refused.job == nil)
            #expect(refused.otherErrors.first?.message.hasPrefix("upstream refused the channel") == true, "\(refused.otherErrors)")
            #expect(service.pool.statistics.channelsRefused == 1)
            #expect(translator.upstreamChannels.count == 2)
        }
        try runner.sync { _ = a.mine(shares: 2); _ = b.mine(shares: 2) }
        #expect(try runner.wait { a.accepted == 2 && b.accepted == 2 })

        try runner.sync { a.close(); refused.close() }
        #expect(try runner.wait { service.pool.openChannelCount == 1 && translator.deviceCount == 1 })
        let c = try connectDevice(runner, to: translator, worker: "c")
        defer { _ = try? runner.sync { b.close(); c.close() } }
        try runner.sync { _ = c.mine(shares: 2) }
        #expect(try runner.wait { c.accepted == 2 })
        #expect(try runner.sync { service.pool.openChannelCount == 2 && translator.upstreamChannels.count == 2 })
    }

    /// Fail-over per device: a device that sent `mining.extranonce.subscribe` stays connected through the outage
    /// (shares meanwhile answered `upstream-unavailable`), gets a channel of its own on the second pool, then
    /// `mining.set_extranonce` and a clean job, and mines there; a device without it is sent away.
    @Test func aKeptDeviceGetsItsOwnChannelOnTheNextPool() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let failover = try bed.startFailover(secondServing: false) { $0.channelMode = .perDevice }
        let (first, translator) = (failover.first, failover.translator)
        let stays = try connectDevice(runner, to: translator, worker: "stays", subscribesToExtranonce: true)
        let leaves = try connectDevice(runner, to: translator, worker: "leaves")
        try runner.sync { _ = stays.mine(shares: 2) }
        #expect(try runner.wait { stays.accepted == 2 })
        #expect(try runner.sync { first.pool.openChannelCount } == 2)
        let before = try runner.sync { stays.extranonce1 }

        try runner.sync { first.stop() }
        #expect(try runner.wait { leaves.closed && leaves.reconnects == 1 })
        try runner.sync { _ = stays.mine(shares: 1) }
        #expect(try runner.wait { stays.rejected[Sv1ErrorCode.other.rawValue] == 1 })
        #expect(try runner.sync { !stays.closed && translator.upstreamChannels.isEmpty })

        let second = try bed.startPool(nbits: 0x1d00_ffff, reservedExtranonceIDs: 5, at: failover.secondAddress)
        #expect(try runner.wait { stays.extranonceUpdates == 1 && stays.isReady })
        try runner.sync { _ = stays.mine(shares: 3) }
        #expect(try runner.wait { stays.accepted == 5 })
        runner.inspect {
            #expect(!stays.closed && stays.reconnects == 0)
            #expect(stays.extranonce1 != before && stays.extranonce1 != nil)
            #expect(second.pool.openChannelCount == 1)  // the kept device's own channel, nothing else
            #expect(translator.upstreamChannels.count == 1)
            #expect(translator.statistics.devicesKeptOnUpstreamLoss == 1)
            #expect(second.pool.statistics.sharesAccepted >= 3)
            if let id = translator.upstreamChannels.keys.first {
                #expect(second.pool.shareCounts(ofChannel: id)?.accepted == 3)
            }
        }
        _ = try? runner.sync { stays.close() }
    }
}
