import Foundation
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing

/// A pool that stops reading from a client after `pauseAfter` shares (back-pressure from inside a handler, as an
/// accounting store that falls behind would).
private struct PausingPool: Sv2MiningServerHandler {
    let state: PoolState
    let pauseAfter: Int

    mutating func connectionDidSetUp(context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.setUp.append(context.connectionID)
    }

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: message.requestID, channelID: 1, target: .max, extranoncePrefix: [1, 2, 3, 4], groupChannelID: 0))
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.shares += 1
        try context.send(SubmitSharesSuccess(
            channelID: message.channelID, lastSequenceNumber: message.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1))
        if state.shares == pauseAfter { #expect(context.connections.pauseReading(context.connectionID)) }
    }
}

private typealias PausingServer =
    Sv2Server<PausingPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>

/// `Sv2Server.pauseReading`/`resumeReading`: no frame after the pausing one is handled until the resume, none is
/// lost, and the acknowledgements stay in order.
@Suite("Sv2Server read pause", .serialized, .timeLimit(.minutes(1)))
struct ServerReadPauseTests {
    @Test(arguments: transportMatrix)
    func pausedClientIsServedAfterResume(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let miner = MinerState()
        let handles = try runner.sync { () -> (PausingServer, TestClient) in
            let server = try PausingServer(
                configuration: serverConfiguration(noise: noise), eventLoop: runner.loop,
                mining: PausingPool(state: pool, pauseAfter: 3), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            let client = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                        miner: TestMiner(state: miner, shares: 10))
            client.connect()
            return (server, client)
        }
        let box = Box(handles)
        #expect(try runner.wait { miner.acks.count == 3 })
        // The client sent all ten shares in one go; the server stopped after the third and keeps the rest unread.
        let iteration = try runner.sync { runner.loop.iteration }
        #expect(try runner.wait { runner.loop.iteration > iteration + 3 })
        try runner.sync {
            #expect(pool.shares == 3 && miner.acks == [0, 1, 2])
            #expect(box.value.0.connections.isReadingPaused(pool.setUp[0]) == true)
            #expect(box.value.0.statistics.framesIn == 5)  // SetupConnection, OpenStandardMiningChannel, 3 shares
        }
        #expect(try runner.sync { box.value.0.resumeReading(pool.setUp[0]) })
        #expect(try runner.wait { miner.acks.count == 10 })
        try runner.sync {
            #expect(pool.shares == 10 && miner.acks == Array(0..<10))
            #expect(box.value.0.connections.isReadingPaused(pool.setUp[0]) == false)
            #expect(box.value.0.pauseReading(Sv2ConnectionID(999_999)) == false)
        }
    }
}
