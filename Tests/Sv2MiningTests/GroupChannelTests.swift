import Foundation
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining

/// The pool's group channels over loopback: one group per connection, announced with SetGroupChannel, closable.
@Suite("Pool group channels", .serialized)
struct GroupChannelTests {
    static let templates = EmbeddedTemplateProvider.Configuration(source: .init(nbits: 0x1d00_ffff), refreshInterval: nil)

    @Test(arguments: [false, true])
    func channelsOfAConnectionShareOneAnnouncedGroup(extended: Bool) throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: PoolServiceTests.configuration(), templates: Self.templates)
        let miner = TestMinerState(extended: extended)
        let other = TestMinerState(extended: extended)
        let client = try connectMiner(runner, to: service, state: miner)
        let otherClient = try connectMiner(runner, to: service, state: other)
        try runner.sync { try client.sendAny(Self.openRequest(extended: extended, requestID: 2)) }
        #expect(try runner.wait { miner.groupAnnouncements.count == 2 && other.groupAnnouncements.count == 1 })
        try runner.sync {
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

    @Test func requiresStandardJobsGetsNoGroup() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: PoolServiceTests.configuration(), templates: Self.templates)
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(
            runner, to: service, state: miner, flags: Sv2SetupFlags.Mining.requiresStandardJobs)
        try runner.sync { try client.sendAny(Self.openRequest(extended: false, requestID: 2)) }
        #expect(try runner.wait { miner.opened.count == 2 })
        usleep(100_000)  // a SetGroupChannel would follow its Success at once
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

    @Test(arguments: [false, true])
    func closingTheGroupClosesItsMembers(extended: Bool) throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let service = try startPool(runner, configuration: PoolServiceTests.configuration(), templates: Self.templates)
        let serverErrors = TestBox<[Sv2ServiceError]>([])
        try runner.sync { service.server.connections.errorObserver = { serverErrors.value.append($1) } }
        let miner = TestMinerState(extended: extended)
        let bystander = TestMinerState(extended: extended)
        let client = try connectMiner(runner, to: service, state: miner)
        let bystanderClient = try connectMiner(runner, to: service, state: bystander)
        try runner.sync { try client.sendAny(Self.openRequest(extended: extended, requestID: 2)) }
        #expect(try runner.wait { miner.groupAnnouncements.count == 2 && service.pool.openChannelCount == 3 })

        // A share on a member is accepted; then the client closes the group by its id.
        let (group, members) = try runner.sync { () -> (UInt32, [UInt32]) in
            try submit(try #require(miner.findShare()).fields, extended: extended, via: client)
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
        try runner.sync { try client.sendAny(Self.openRequest(extended: extended, requestID: 3)) }
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
                channelID: closedMember, sequence: 99, jobID: 1, nonce: 0, ntime: 0, version: 0,
                extranonce: [UInt8](repeating: 0, count: miner.extranonceSize))
            try submit(fields, extended: extended, via: client)
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
