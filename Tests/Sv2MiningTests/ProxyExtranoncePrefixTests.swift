import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
import Sv2Bitcoin
import Sv2Mining
@testable import Sv2Proxy
@testable import Sv2Miner

@Suite("Client side: proxy following an upstream SetExtranoncePrefix", .serialized)
struct ProxyExtranoncePrefixTests {
    /// The pool changes the aggregated channel's prefix: until its next job the downstream channels keep their
    /// prefixes (shares on the old job are still forwarded and accepted against the old prefix); the next job, active
    /// at once, moves every downstream channel under the new prefix (`SetExtranoncePrefix` downstream, new merkle
    /// roots) and the miners switch to it at once; their shares on it are accepted, and the upstream link never
    /// drops.
    @Test func downstreamChannelsMoveUnderTheNewPrefixAtTheNextJob() throws {
        let setup = try ProxyAggregatorTests.start(minerCount: 2)
        defer { try? ProxyAggregatorTests.finish(setup) }
        let (runner, pool, proxy, miners) = (setup.runner, setup.pool, setup.proxy, setup.miners)
        #expect(try runner.wait { pool.totalAccepted >= 4 && proxy.statistics.openChannels == 2 })
        let before = try runner.sync { proxy.downstreamPrefixes }
        let newPrefix = Extranonce(bytes: [0xee, 0xee, 0xee, 0xee, 0x01])!  // one byte longer than the old one
        let acceptedAtChange = try runner.sync {
            try pool.changePrefix(of: 1, to: newPrefix)
            return pool.accepted[1] ?? 0
        }
        // No job yet: the old prefixes stay, shares on job 1 keep being forwarded and accepted.
        #expect(try runner.wait { (pool.accepted[1] ?? 0) >= acceptedAtChange + 3 })
        runner.inspect {
            #expect(proxy.downstreamPrefixes == before)
            #expect(proxy.statistics.upstreamExtranoncePrefixChanges == 0)
        }

        try runner.sync { try pool.newJobOnSameTip() }
        #expect(try runner.wait {
            (pool.accepted[2] ?? 0) >= 5 && miners.allSatisfy { $0.mining.session.tracker?.work?.jobID == 2 }
        })
        runner.inspect {
            Self.expectOneChange(to: newPrefix, proxy.statistics)
            let prefixes = proxy.downstreamPrefixes.values
            #expect(prefixes.count == 2 && Set(prefixes).count == 2)
            #expect(prefixes.allSatisfy { newPrefix.isPrefix(of: $0) && $0.count == newPrefix.count + 2 })
            // Each miner was told its channel's new prefix.
            let told = Set(miners.compactMap { $0.mining.session.statistics.extranoncePrefix })
            #expect(told == Set(prefixes))
            // Nothing the proxy forwarded was wrong for the pool (job 1 under the old prefix, job 2 under the new).
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
            let localIDs = Set(proxy.downstreamPrefixes.values.map { Array($0.bytes.suffix(2)) })
            let jobTwo = pool.acceptedShares.filter { $0.share.jobID == 2 }
            #expect(!jobTwo.isEmpty && jobTwo.allSatisfy { localIDs.contains($0.share.extranonce.bytes) })
        }
    }

    /// The pool changes the prefix and then sends a *future* job: the running job stays valid with the old prefix,
    /// so the miners keep mining it (their work does not change) and their shares on it, forwarded after the proxy
    /// had the future job, are checked, forwarded and accepted under the old prefix. At the future job's
    /// `SetNewPrevHash` the miners switch to it, under the new prefix with the same local ids, and its shares are
    /// accepted too.
    @Test func aFutureJobAfterAPrefixChangeKeepsTheMinersOnTheRunningJobUntilItsPrevHash() throws {
        let setup = try ProxyAggregatorTests.start(minerCount: 2)
        defer { try? ProxyAggregatorTests.finish(setup) }
        let (runner, pool, proxy, miners) = (setup.runner, setup.pool, setup.proxy, setup.miners)
        #expect(try runner.wait { pool.totalAccepted >= 4 && proxy.statistics.openChannels == 2 })
        let before = try runner.sync { proxy.downstreamPrefixes }
        let localIDs = Set(before.values.map { Array($0.bytes.suffix(2)) })
        let newPrefix = Extranonce(bytes: [0xee, 0xee, 0xee, 0xee, 0x01])!  // one byte longer than the old one
        let futureJob = try runner.sync {
            try pool.changePrefix(of: 1, to: newPrefix)
            try pool.newFutureJob()
            return pool.jobID
        }
        #expect(futureJob == 2)
        // Once the proxy had the future job (it applies the prefix then), every share it forwards comes later.
        #expect(try runner.wait {
            proxy.statistics.upstreamExtranoncePrefixChanges == 1
                && miners.allSatisfy { $0.mining.session.statistics.extranoncePrefix.map(newPrefix.isPrefix(of:)) == true }
        })
        let (acceptedAtSwitch, forwardedAtSwitch, minersAtSwitch) = try runner.sync {
            (pool.accepted[1] ?? 0, proxy.statistics.sharesForwarded,
             miners.map { $0.mining.session.statistics.sharesAccepted })
        }
        #expect(try runner.wait {
            (pool.accepted[1] ?? 0) >= acceptedAtSwitch + 4 && proxy.statistics.sharesForwarded >= forwardedAtSwitch + 4
                && zip(miners, minersAtSwitch).allSatisfy { $0.mining.session.statistics.sharesAccepted > $1 }
        })
        runner.inspect {
            #expect(miners.allSatisfy { $0.mining.session.tracker?.work?.jobID == 1 })
            #expect(pool.accepted[2] == nil)
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
            #expect(proxy.statistics.rejections.isEmpty, "\(proxy.statistics.rejections)")
            // The prefixes for jobs from now on moved under the new one, keeping each channel's local id.
            let prefixes = proxy.downstreamPrefixes
            #expect(prefixes.keys == before.keys)
            Self.expectMoved(prefixes, under: newPrefix, keepingLocalIDsOf: before)
        }

        try runner.sync { try pool.activateFutureJob() }
        #expect(try runner.wait {
            (pool.accepted[2] ?? 0) >= 5 && miners.allSatisfy { $0.mining.session.tracker?.work?.jobID == 2 }
        })
        runner.inspect {
            Self.expectOneChange(to: newPrefix, proxy.statistics)
            #expect(pool.rejections.isEmpty, "\(pool.rejections)")
            let jobTwo = pool.acceptedShares.filter { $0.share.jobID == 2 }
            #expect(!jobTwo.isEmpty && jobTwo.allSatisfy { localIDs.contains($0.share.extranonce.bytes) })
        }
    }

    /// A prefix that would not leave room for the channel's extranonce is a protocol error on the upstream link.
    @Test func anOversizedPrefixIsRefused() throws {
        let setup = try ProxyAggregatorTests.start(minerCount: 1)
        defer { try? ProxyAggregatorTests.finish(setup) }
        let (runner, pool, proxy) = (setup.runner, setup.pool, setup.proxy)
        #expect(try runner.wait { pool.totalAccepted >= 1 })
        try runner.sync { try pool.changePrefix(of: 1, to: Extranonce(bytes: [UInt8](repeating: 0xee, count: 31))!) }
        #expect(try runner.wait { proxy.statistics.upstreamLosses >= 1 })
    }

    /// Every downstream prefix is `newPrefix ‖ its channel's 2-byte local id`, the id it had in `before`.
    static func expectMoved(
        _ prefixes: [UInt32: Extranonce], under newPrefix: Extranonce, keepingLocalIDsOf before: [UInt32: Extranonce],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            prefixes.allSatisfy { newPrefix.isPrefix(of: $0.value) && $0.value.count == newPrefix.count + 2 },
            sourceLocation: sourceLocation)
        #expect(
            prefixes.allSatisfy { $0.value.bytes.suffix(2) == before[$0.key]?.bytes.suffix(2) },
            sourceLocation: sourceLocation)
    }

    /// The proxy followed exactly one upstream prefix change, to `newPrefix`, on its first upstream channel.
    static func expectOneChange(
        to newPrefix: Extranonce, _ stats: ProxyStatistics, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            stats.upstreamExtranoncePrefix == newPrefix && stats.upstreamExtranoncePrefixChanges == 1,
            sourceLocation: sourceLocation)
        #expect(stats.upstreamLosses == 0 && stats.upstreamChannelID == 1, sourceLocation: sourceLocation)
    }
}
