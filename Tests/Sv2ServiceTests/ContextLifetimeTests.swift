import Reactor
import Sv2Codec
@testable import Sv2Service
import Testing

/// Contexts a handler kept past its handler call (the misuse under test).
final class ContextKeeper {
    var server: Sv2ServerContext?
    var client: Sv2ClientContext?
    /// What using the kept server context inside a later handler call gave.
    var duringLaterCall: Sv2ServiceError?
}

/// A pool that keeps the context of the channel open and tries it again while handling the share.
struct KeepingPool: Sv2MiningServerHandler {
    let keeper: ContextKeeper

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        keeper.server = context
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: message.requestID, channelID: 1, target: .max, extranoncePrefix: [1, 2, 3, 4], groupChannelID: 0))
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let ack = SubmitSharesSuccess(
            channelID: message.channelID, lastSequenceNumber: message.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1)
        do { try keeper.server?.send(ack) } catch { keeper.duringLaterCall = error }
        try context.send(ack)
    }
}

/// A miner that keeps its setup context, opens a channel and submits one share.
struct KeepingMiner: Sv2MiningClientHandler {
    let keeper: ContextKeeper
    let state: MinerState

    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        keeper.client = context
        try context.send(OpenStandardMiningChannel(requestID: 1, userIdentity: "k", nominalHashRate: 1, maxTarget: .max))
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.channel = message.channelID
        try context.send(SubmitSharesStandard(
            channelID: message.channelID, sequenceNumber: 0, jobID: 1, nonce: 0, ntime: 0, version: 0))
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.acks.append(message.lastSequenceNumber)
    }
}

typealias KeepingServer = Sv2Server<KeepingPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
typealias KeepingClient = Sv2Client<KeepingMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// A pool and a miner whose handlers keep their contexts, connected, the miner's share acknowledged.
func keepingPair(
    _ runner: LoopRunner, keeper: ContextKeeper, miner: MinerState, trapsOnMisuse: Bool
) throws -> (KeepingServer, KeepingClient) {
    let pair = try runner.sync { () -> (KeepingServer, KeepingClient) in
        let server = try Sv2Server(
            configuration: serverConfiguration(noise: false), eventLoop: runner.loop, mining: KeepingPool(keeper: keeper))
        server.connections.handlerCalls.cell.pointee.trapsOnMisuse = trapsOnMisuse
        try server.start()
        let client = try Sv2Client(
            configuration: clientConfiguration(server: server.localAddress!, noise: false), eventLoop: runner.loop,
            mining: KeepingMiner(keeper: keeper, state: miner))
        client.core.handlerCalls.cell.pointee.trapsOnMisuse = trapsOnMisuse
        client.connect()
        return (server, client)
    }
    _ = try runner.wait { miner.acks == [0] }
    return pair
}

@Suite("A handler context kept past its call is caught", .serialized)
struct ContextLifetimeTests {
    static let ack = SubmitSharesSuccess(channelID: 1, lastSequenceNumber: 9, newSubmitsAcceptedCount: 1, newSharesSum: 1)

    /// The release-build behaviour (debug builds trap first, see below): a typed error, nothing sent, the
    /// connection untouched — inside a later handler call, later on the loop, and after the connection closed.
    @Test func keptContextsFailWithATypedError() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let keeper = ContextKeeper(), miner = MinerState()
        let pair = Box(try keepingPair(runner, keeper: keeper, miner: miner, trapsOnMisuse: false))
        try runner.sync {
            #expect(miner.acks == [0])  // only the ack sent through the live context
            #expect(keeper.duringLaterCall == .contextExpired)
            let (server, client) = pair.value
            let framesOut = (server.statistics.framesOut, client.statistics.framesOut)
            #expect(throws: Sv2ServiceError.contextExpired) { try keeper.server!.send(Self.ack) }
            #expect(throws: Sv2ServiceError.contextExpired) {
                try keeper.client!.send(SubmitSharesStandard(
                    channelID: 1, sequenceNumber: 1, jobID: 1, nonce: 0, ntime: 0, version: 0))
            }
            #expect(server.statistics.framesOut == framesOut.0)
            #expect(client.statistics.framesOut == framesOut.1)
            #expect(client.isReady)
            #expect(server.statistics.errors == 0 && client.statistics.errors == 0)
            client.close()
        }
        #expect(try runner.wait { pair.value.0.statistics.connectionsClosed == 1 })
        _ = try runner.sync {
            #expect(throws: Sv2ServiceError.contextExpired) { try keeper.server!.send(Self.ack) }
        }
    }

    /// Debug builds stop at the first misuse, with the message naming it: here the pool's share handler using the
    /// context it kept from the channel open.
    @Test(.enabled(if: _isDebugAssertConfiguration(), "debug builds trap; release builds throw (tested above)"))
    func keptContextTrapsInDebugBuilds() async {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let runner = try LoopRunner(.epoll)
            let keeper = ContextKeeper(), miner = MinerState()
            _ = try keepingPair(runner, keeper: keeper, miner: miner, trapsOnMisuse: true)
            Issue.record("the kept context was used without trapping")
        }
        let stderr = exit.map { String(decoding: $0.standardErrorContent, as: UTF8.self) } ?? ""
        #expect(stderr.contains("Sv2ServerContext used after the handler call it was given to returned"), "\(stderr)")
    }
}
