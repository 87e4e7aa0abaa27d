import Foundation
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// The pool's group channels over loopback. Grouping is an option (off by default) for the standard channels of a
/// connection that accepts extended jobs; extended channels are never grouped (SRI's translator_sv2 1.0.0 closes
/// the connection on SetGroupChannel); group jobs go once to the group id.
@Suite("Pool group channels", .serialized)
struct GroupChannelTests {
    static let templates = EmbeddedTemplateProvider.Configuration(source: .init(nbits: 0x1d00_ffff), refreshInterval: nil)
    static func grouping(_ on: Bool) -> PoolConfiguration {
        PoolServiceTests.configuration { $0.groupStandardChannels = on }
    }

    /// Whatever the option says, extended channels get group id 0 and no SetGroupChannel: a translator that opens
    /// an extended channel must not be sent a message it does not expect.
    @Test(arguments: [false, true])
    func extendedChannelsAreNeverGrouped(grouping: Bool) throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: Self.grouping(grouping), templates: Self.templates)
        let miner = TestMinerState(extended: true)
        let client = try connectMiner(runner, to: service, state: miner)
        try runner.sync { try client.sendAny(Self.openRequest(extended: true, requestID: 2)) }
        #expect(try runner.wait { miner.opened.count == 2 && miner.prevHashCount == 2 })
        // A share round trip: anything sent after the opens has arrived before its acknowledgement.
        try runner.sync { try submit(try #require(miner.findShare()).fields, extended: true, via: client) }
        #expect(try runner.wait { miner.acknowledged == 1 })
        try runner.sync {
            #expect(miner.opened.allSatisfy { $0.group == 0 })
            #expect(miner.groupAnnouncements.isEmpty)
            #expect(miner.closeReason == nil)
            #expect(miner.jobAddresses.allSatisfy { address in miner.opened.contains { $0.channel == address.channel } })
        }
    }

    /// Standard channels of a connection without REQUIRES_STANDARD_JOBS: one group when the option is on, none
    /// when it is off.
    @Test(arguments: [false, true])
    func standardChannelsAreGroupedOnlyWhenConfigured(grouping: Bool) throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: Self.grouping(grouping), templates: Self.templates)
        let miner = TestMinerState(extended: false)
        let other = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: service, state: miner)
        let otherClient = try connectMiner(runner, to: service, state: other)
        try runner.sync { try client.sendAny(Self.openRequest(extended: false, requestID: 2)) }
        #expect(try runner.wait { miner.opened.count == 2 && miner.prevHashCount == 2 })
        try runner.sync { try submit(try #require(miner.findShare()).fields, extended: false, via: client) }
        #expect(try runner.wait { miner.acknowledged == 1 })
        try runner.sync {
            guard grouping else {
                #expect(miner.opened.allSatisfy { $0.group == 0 } && other.opened.allSatisfy { $0.group == 0 })
                #expect(miner.groupAnnouncements.isEmpty && other.groupAnnouncements.isEmpty)
                return
            }
            let group = miner.opened[0].group
            #expect(miner.opened.count == 2 && miner.opened.allSatisfy { $0.group == group })
            #expect(group != 0 && !miner.opened.contains { $0.channel == group })
            // Success first, then the announcement of that one channel.
            #expect(miner.groupAnnouncements.map(\.group) == [group, group])
            #expect(miner.groupAnnouncements.map(\.channels) == miner.opened.map { [$0.channel] })
            // Another connection: another group, from the same id space.
            let otherGroup = other.opened[0].group
            #expect(otherGroup != group && otherGroup != 0)
            #expect(!([group, otherGroup] + miner.opened.map(\.channel)).contains(other.opened[0].channel))
            #expect(other.groupAnnouncements.map(\.group) == [otherGroup])
            // The server counts the group id as the connection's own.
            let connections = service.server.connections
            #expect(connections.owner(ofChannel: group) != nil)
            #expect(connections.owner(ofChannel: group) == connections.owner(ofChannel: miner.opened[0].channel))
            #expect(connections.owner(ofChannel: otherGroup) == connections.owner(ofChannel: other.opened[0].channel))
        }
        _ = (client, otherClient)
    }

    /// With grouping on, a new template reaches a group of standard channels as ONE NewExtendedMiningJob addressed
    /// to the group id (not one NewMiningJob per member), a new chain tip as one SetNewPrevHash; each member mines
    /// it with its own extranonce prefix and its shares are accepted.
    @Test func groupJobsAreSentOnceToTheGroup() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: Self.grouping(true), templates: Self.templates)
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: service, state: miner)
        try runner.sync { try client.sendAny(Self.openRequest(extended: false, requestID: 2)) }
        #expect(try runner.wait { miner.opened.count == 2 && miner.prevHashCount == 2 })
        let before = try runner.sync { () -> Int in
            // Each member got its first job on its own channel.
            #expect(miner.jobAddresses.map(\.channel) == miner.opened.map(\.channel))
            #expect(miner.jobAddresses.allSatisfy { !$0.extended })
            service.embeddedTemplateProvider!.refresh()  // a fee-bumped template: a job active at once
            return miner.jobAddresses.count
        }
        #expect(try runner.wait { miner.jobAddresses.count == before + 1 })
        let group = try runner.sync { () -> UInt32 in
            let group = miner.opened[0].group
            #expect(miner.jobAddresses.last!.channel == group && miner.jobAddresses.last!.extended)
            return group
        }
        // A share of the last member (the test miner's channel) on the group's job is accepted.
        try runner.sync { try submit(try #require(miner.findShare()).fields, extended: false, via: client) }
        #expect(try runner.wait { miner.acknowledged == 1 })
        // The first member's share on the same group job, with its own prefix, is accepted too.
        try runner.sync {
            miner.channelID = miner.opened[0].channel
            miner.extranoncePrefix = Array(service.pool.extranoncePrefix(ofChannel: miner.opened[0].channel)!.bytes)
            try submit(try #require(miner.findShare()).fields, extended: false, via: client)
        }
        #expect(try runner.wait { miner.acknowledged == 2 })
        runner.inspect {
            #expect(miner.errors.isEmpty, "\(miner.errors)")
            #expect(service.pool.shareCounts(ofChannel: miner.opened[0].channel)?.accepted == 1)
            #expect(service.pool.shareCounts(ofChannel: miner.opened[1].channel)?.accepted == 1)
            #expect(!miner.prevHashAddresses.contains(group))
        }
        // A new chain tip (as a template source sends it: future template, then its tip) reaches the group as one
        // future job and one SetNewPrevHash.
        let jobsBefore = try runner.sync { () -> Int in
            let count = miner.jobAddresses.count
            var template = try #require(service.pool.currentTemplate)
            template.templateID += 100
            template.futureTemplate = true
            try service.pool.receive(template: template)
            let old = try #require(service.pool.chainTip)
            try service.pool.receive(chainTip: TemplateChainTip(
                templateID: template.templateID, prevHash: Hash256(bytes: [UInt8](repeating: 0x5e, count: 32))!,
                headerTimestamp: old.headerTimestamp + 1, nbits: old.nbits, target: old.target))
            return count
        }
        #expect(try runner.wait { miner.prevHashAddresses.last == group })
        runner.inspect {
            #expect(miner.jobAddresses.count == jobsBefore + 1 && miner.jobAddresses.last!.channel == group)
            #expect(miner.prevHashAddresses.filter { $0 == group }.count == 1)
            #expect(miner.closeReason == nil)
        }
        // Shares on the new tip's group job are accepted for both members.
        try runner.sync {
            try submit(try #require(miner.findShare()).fields, extended: false, via: client)
            miner.channelID = miner.opened[1].channel
            miner.extranoncePrefix = Array(service.pool.extranoncePrefix(ofChannel: miner.opened[1].channel)!.bytes)
            try submit(try #require(miner.findShare()).fields, extended: false, via: client)
        }
        #expect(try runner.wait { miner.acknowledged == 4 })
        runner.inspect { #expect(miner.errors.isEmpty, "\(miner.errors)") }
    }

    @Test func requiresStandardJobsGetsNoGroup() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: Self.grouping(true), templates: Self.templates)
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(
            runner, to: service, state: miner, flags: Sv2SetupFlags.Mining.requiresStandardJobs)
        try runner.sync { try client.sendAny(Self.openRequest(extended: false, requestID: 2)) }
        #expect(try runner.wait { miner.opened.count == 2 && miner.prevHashCount == 2 })
        try runner.sync { try submit(try #require(miner.findShare()).fields, extended: false, via: client) }
        #expect(try runner.wait { miner.acknowledged == 1 })
        try runner.sync {
            #expect(miner.opened.allSatisfy { $0.group == 0 })
            #expect(miner.groupAnnouncements.isEmpty)
            #expect(miner.closeReason == nil)
            // The channels still close with the connection.
            #expect(service.pool.openChannelCount == 2)
        }
        try runner.sync { client.close() }
        #expect(try runner.wait { service.pool.openChannelCount == 0 })
    }

    @Test func closingTheGroupClosesItsMembers() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: Self.grouping(true), templates: Self.templates)
        let serverErrors = TestBox<[Sv2ServiceError]>([])
        try runner.sync { service.server.connections.errorObserver = { serverErrors.value.append($1) } }
        let miner = TestMinerState(extended: false)
        let bystander = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: service, state: miner)
        let bystanderClient = try connectMiner(runner, to: service, state: bystander)
        try runner.sync { try client.sendAny(Self.openRequest(extended: false, requestID: 2)) }
        #expect(try runner.wait { miner.groupAnnouncements.count == 2 && service.pool.openChannelCount == 3 })

        // A share on a member is accepted; then the client closes the group by its id.
        let (group, members) = try runner.sync { () -> (UInt32, [UInt32]) in
            try submit(try #require(miner.findShare()).fields, extended: false, via: client)
            return (miner.opened[0].group, miner.opened.map(\.channel))
        }
        #expect(try runner.wait { miner.acknowledged == 1 })
        try runner.sync { try client.send(CloseChannel(channelID: group, reasonCode: "miner-stopping")) }
        #expect(try runner.wait { service.pool.openChannelCount == 1 })
        try runner.sync {
            #expect(serverErrors.value.isEmpty && miner.closeReason == nil)
            for id in members + [group] {
                #expect(service.pool.target(ofChannel: id) == nil)
                #expect(service.server.connections.owner(ofChannel: id) == nil)
            }
            #expect(service.pool.statistics.channelsClosed == 2)
            #expect(bystander.closeReason == nil && service.pool.target(ofChannel: bystander.channelID!) != nil)
        }

        // A new channel on the same connection gets a new group, announced again.
        try runner.sync { try client.sendAny(Self.openRequest(extended: false, requestID: 3)) }
        #expect(try runner.wait { miner.groupAnnouncements.count == 3 })
        let reopened = try runner.sync { () -> UInt32 in
            let last = miner.opened[2]
            #expect(last.group != 0 && last.group != group)
            #expect(miner.groupAnnouncements.last!.group == last.group)
            #expect(miner.groupAnnouncements.last!.channels == [last.channel])
            return last.channel
        }

        // A share on a closed member is a message about a channel the connection no longer owns.
        let closedMember = members[0]
        #expect(!members.contains(reopened))
        try runner.sync {
            let fields = ShareFields(
                channelID: closedMember, sequence: 99, jobID: 1, nonce: 0, ntime: 0, version: 0, extranonce: [])
            try submit(fields, extended: false, via: client)
        }
        #expect(try runner.wait { miner.closeReason != nil })
        try runner.sync {
            #expect(serverErrors.value == [.unknownChannel(closedMember)])
            #expect(bystander.closeReason == nil)
        }
        _ = bystanderClient
    }

    static func openRequest(extended: Bool, requestID: UInt32) -> any Sv2Message {
        if extended {
            return OpenExtendedMiningChannel(
                requestID: requestID, userIdentity: "tester.ext2", nominalHashRate: 0, maxTarget: .max,
                minExtranonceSize: 4)
        }
        return OpenStandardMiningChannel(
            requestID: requestID, userIdentity: "tester.std2", nominalHashRate: 0, maxTarget: .max)
    }
}

extension TestMinerClient {
    /// Sends an existential message (tests only).
    func sendAny(_ message: any Sv2Message) throws {
        func open<M: Sv2Message>(_ message: M) throws { try self.send(message) }
        try open(message)
    }
}
