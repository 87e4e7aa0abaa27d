import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing

/// What the grouping pool saw.
final class GroupPoolState {
    let groupID: UInt32 = 100
    var nextChannel: UInt32 = 1
    var closes: [UInt32] = []
    var shares: [UInt32] = []
    var closed: [Sv2CloseReason] = []
}

/// A pool that puts every channel of a connection into group 100 and announces it with SetGroupChannel.
struct GroupingPool: Sv2MiningServerHandler {
    let state: GroupPoolState

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        state.closed.append(reason)
    }

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let id = state.nextChannel
        state.nextChannel += 1
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: message.requestID, channelID: id, target: .max, extranoncePrefix: [1, 2, 3, 4],
            groupChannelID: state.groupID))
        try context.send(SetGroupChannel(groupChannelID: state.groupID, channelIDs: [id]))
    }

    mutating func handle(_ message: CloseChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.closes.append(message.channelID)
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.shares.append(message.channelID)
        try context.send(SubmitSharesSuccess(
            channelID: message.channelID, lastSequenceNumber: message.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1))
    }
}

/// What the grouped miner saw.
final class GroupMinerState {
    var channels: [UInt32] = []
    var groups: [UInt32: [UInt32]] = [:]
    var acks: [UInt32] = []
    var closedReason: Sv2CloseReason?
}

/// Opens two standard channels and records group membership.
struct GroupedMiner: Sv2MiningClientHandler {
    let state: GroupMinerState

    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        for request in UInt32(1)...2 {
            try context.send(OpenStandardMiningChannel(
                requestID: request, userIdentity: "grouped", nominalHashRate: 1e12, maxTarget: .max))
        }
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        state.closedReason = reason
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.channels.append(message.channelID)
    }

    mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.groups[message.groupChannelID, default: []].append(contentsOf: message.channelIDs)
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.acks.append(message.channelID)
    }
}

typealias GroupServer = Sv2Server<GroupingPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
typealias GroupClient = Sv2Client<GroupedMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

@Suite("Group channels over loopback", .serialized)
struct GroupChannelTests {
    private func start(_ runner: LoopRunner, pool: GroupPoolState, miner: GroupMinerState) throws -> (GroupServer, GroupClient) {
        try runner.sync {
            let server = try GroupServer(
                configuration: serverConfiguration(noise: false), eventLoop: runner.loop, mining: GroupingPool(state: pool),
                jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            let client = try GroupClient(
                configuration: clientConfiguration(server: server.localAddress!, noise: false), eventLoop: runner.loop,
                mining: GroupedMiner(state: miner), jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            client.connect()
            return (server, client)
        }
    }

    private func share(_ channel: UInt32, _ sequence: UInt32) -> SubmitSharesStandard {
        SubmitSharesStandard(channelID: channel, sequenceNumber: sequence, jobID: 1, nonce: 0, ntime: 0, version: 0)
    }

    @Test func setGroupChannelMakesTheGroupIDOwnedAndClosingItClosesTheMembers() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let pool = GroupPoolState()
        let miner = GroupMinerState()
        let (server, client) = try start(runner, pool: pool, miner: miner)
        #expect(try runner.wait { miner.groups[100]?.count == 2 })
        try runner.sync {
            #expect(miner.channels == [1, 2] && miner.groups[100] == [1, 2])
            #expect(server.connections.owner(ofChannel: 100) != nil)
            #expect(server.connections.owner(ofChannel: 100) == server.connections.owner(ofChannel: 1))
            try client.send(self.share(1, 0))
            try client.send(self.share(2, 1))
        }
        #expect(try runner.wait { miner.acks.count == 2 })
        // CloseChannel on the group id is a message about a channel the connection owns: dispatched, not an error.
        try runner.sync { try client.send(CloseChannel(channelID: 100, reasonCode: "done")) }
        #expect(try runner.wait { pool.closes == [100] })
        try runner.sync {
            #expect(pool.closed.isEmpty && miner.closedReason == nil)
            #expect(server.connections.owner(ofChannel: 100) == nil)
            #expect(server.connections.owner(ofChannel: 1) == nil && server.connections.owner(ofChannel: 2) == nil)
            // The members went with the group: a share on one of them is now a share on a channel not owned.
            try client.send(self.share(2, 2))
        }
        #expect(try runner.wait { pool.closed.count == 1 })
        try runner.sync {
            #expect(pool.closed == [.error(.unknownChannel(2))])
            #expect(pool.shares == [1, 2])
        }
    }

    @Test func closingOneMemberKeepsTheGroupAndTheOtherMember() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let pool = GroupPoolState()
        let miner = GroupMinerState()
        let (server, client) = try start(runner, pool: pool, miner: miner)
        #expect(try runner.wait { miner.groups[100]?.count == 2 })
        try runner.sync { try client.send(CloseChannel(channelID: 1, reasonCode: "one")) }
        #expect(try runner.wait { pool.closes == [1] })
        try runner.sync {
            #expect(server.connections.owner(ofChannel: 1) == nil)
            #expect(server.connections.owner(ofChannel: 2) != nil && server.connections.owner(ofChannel: 100) != nil)
            try client.send(self.share(2, 0))
            try client.send(CloseChannel(channelID: 100, reasonCode: "rest"))
        }
        #expect(try runner.wait { pool.closes == [1, 100] && miner.acks == [2] })
        try runner.sync {
            #expect(server.connections.owner(ofChannel: 2) == nil && server.connections.owner(ofChannel: 100) == nil)
            #expect(pool.closed.isEmpty)
        }
    }
}
