import Foundation
import Glibc
import Reactor
import Sv2Codec
import Sv2Service
import Testing

@Suite("Soak: leaks and share accounting", .serialized)
struct SoakTests {
    /// 10k connection open/close cycles (Noise handshake, setup, a channel, one share, close) in batches of 250:
    /// RSS after the run is within 10 % of RSS after the first batch (pools and caches warmed up).
    /// Opt-in (`SV2_SOAK=1`); without it a 1k-cycle run checks the same bound.
    @Test(arguments: transportMatrix)
    func openCloseCyclesDoNotLeak(backend: ReactorBackend, noise: Bool) throws {
        let cycles = ProcessInfo.processInfo.environment["SV2_SOAK"] == "1" ? 10_000 : 1_000
        let batch = 250
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let server = Box(try runner.sync { try makeServer(runner.loop, noise: noise, state: pool) })
        var baseline = 0
        for round in 0..<(cycles / batch) {
            let miners = (0..<batch).map { _ in MinerState() }
            let clients = Box(try runner.sync {
                try miners.map { miner in
                    let client = try makeClient(runner.loop, server: server.value.localAddress!, noise: noise,
                                                miner: TestMiner(state: miner, shares: 1))
                    client.connect()
                    return client
                }
            })
            #expect(try runner.wait(timeout: 60) { miners.allSatisfy { $0.acks.count == 1 } })
            try runner.sync { for client in clients.value { client.close() } }
            #expect(try runner.wait(timeout: 30) { server.value.connections.count == 0 && miners.allSatisfy { $0.closedReason != nil } })
            clients.value = []
            try runner.sync { pool.closed.removeAll(); pool.setUp.removeAll() }
            if round == 0 { baseline = residentBytes() }
        }
        let stats = try runner.sync { server.value.statistics }
        #expect(stats.connectionsOpened == cycles)
        #expect(stats.connectionsClosed == cycles)
        #expect(stats.errors == 0)
        let end = residentBytes()
        print("open/close \(backend) noise \(noise): \(cycles) cycles, RSS after first batch \(baseline >> 10) KiB, end \(end >> 10) KiB")
        #expect(!rssChecksEnabled || Double(end) <= Double(baseline) * 1.10, "RSS grew from \(baseline >> 10) KiB to \(end >> 10) KiB")
    }

    /// Many miners pipeline shares while some are killed at random mid-stream. The server's accepted-share count
    /// must equal the acknowledgements that reached miners plus the acknowledgements lost in flight — shares the
    /// server accepted on a connection that died before reading the ack — with no share counted twice.
    @Test(arguments: transportMatrix)
    func nothingLostWhenMinersDie(backend: ReactorBackend, noise: Bool) throws {
        let serverRunner = try LoopRunner(backend)
        defer { serverRunner.stop() }
        let clientRunner = try LoopRunner(backend)
        defer { clientRunner.stop() }
        let ledger = ServerLedger()
        let server = Box(try serverRunner.sync { () -> LedgerServer in
            let server = try LedgerServer(
                configuration: serverConfiguration(noise: noise), eventLoop: serverRunner.loop,
                mining: LedgerPool(ledger: ledger), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            return server
        })
        let minerCount = 60
        let miners = (0..<minerCount).map { _ in MinerLedger() }
        let clients = Box(try clientRunner.sync {
            try miners.map { miner in
                let client = try LedgerClient(
                    configuration: clientConfiguration(server: server.value.localAddress!, noise: noise),
                    eventLoop: clientRunner.loop, mining: LedgerMiner(ledger: miner),
                    jobDeclaration: NullSv2JobDeclarationClientHandler(),
                    templateDistribution: NullSv2TemplateDistributionClientHandler())
                client.connect()
                return client
            }
        })
        // Kill a third of the miners at random moments while shares flow.
        var rng = SystemRandomNumberGenerator()
        let victims = Array((0..<minerCount).shuffled(using: &rng).prefix(minerCount / 3))
        #expect(try clientRunner.wait { miners.allSatisfy { $0.channel != nil } })
        for victim in victims {
            usleep(UInt32.random(in: 1_000...20_000, using: &rng))
            try clientRunner.sync {
                miners[victim].killed = true
                clients.value[victim].close()
            }
        }
        #expect(try clientRunner.wait(timeout: 60) {
            miners.allSatisfy { $0.killed ? $0.closed : $0.acked.count == MinerLedger.sharesPerMiner }
        })
        #expect(try serverRunner.wait { server.value.connections.count == minerCount - victims.count })

        let acked = try clientRunner.sync { miners.map { ($0.channel!, $0.acked, $0.inFlightAtClose, $0.killed, $0.duplicateAcks) } }
        let accepted = try serverRunner.sync { (ledger.accepted, ledger.total, ledger.duplicates) }
        #expect(accepted.2 == 0, "shares counted twice by the server")
        #expect(accepted.1 == accepted.0.values.reduce(0) { $0 + $1.count })
        var ackedTotal = 0
        var lostInFlight = 0
        var killedWithLoss = 0
        for (channel, ackedSet, inFlight, killed, duplicateAcks) in acked {
            let serverSet = accepted.0[channel] ?? []
            #expect(duplicateAcks == 0)
            #expect(ackedSet.isSubset(of: serverSet), "channel \(channel): ack for a share the server did not count")
            let lost = serverSet.subtracting(ackedSet)
            if killed {
                // Only shares that were in flight when the miner died can be accepted without an ack reaching it.
                #expect(lost.isSubset(of: inFlight), "channel \(channel): \(lost.subtracting(inFlight).count) lost outside the window")
                if !lost.isEmpty { killedWithLoss += 1 }
            } else {
                #expect(lost.isEmpty, "channel \(channel): a live miner lost \(lost.count) acks")
            }
            ackedTotal += ackedSet.count
            lostInFlight += lost.count
        }
        #expect(accepted.1 == ackedTotal + lostInFlight)
        print("nothing lost \(backend) noise \(noise): accepted \(accepted.1) = acked \(ackedTotal) + lost in flight \(lostInFlight) (\(killedWithLoss)/\(victims.count) killed miners lost acks)")
    }
}

typealias LedgerServer = Sv2Server<LedgerPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
typealias LedgerClient = Sv2Client<LedgerMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// What the server accepted, per channel (server loop only).
final class ServerLedger {
    var nextChannel: UInt32 = 1
    var accepted: [UInt32: Set<UInt32>] = [:]
    var total = 0
    var duplicates = 0
}

/// A pool that accepts every share exactly once per (channel, sequence) and acknowledges it.
struct LedgerPool: Sv2MiningServerHandler {
    let ledger: ServerLedger

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let id = ledger.nextChannel
        ledger.nextChannel += 1
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: message.requestID, channelID: id, target: .max, extranoncePrefix: [0, 0, 0, 1], groupChannelID: 0))
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard ledger.accepted[message.channelID, default: []].insert(message.sequenceNumber).inserted else {
            ledger.duplicates += 1
            return
        }
        ledger.total += 1
        try context.send(SubmitSharesSuccess(
            channelID: message.channelID, lastSequenceNumber: message.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1))
    }
}

/// What one miner sent and had acknowledged (client loop only).
final class MinerLedger {
    static let sharesPerMiner = 400
    static let window = 16
    var channel: UInt32?
    var nextSequence: UInt32 = 0
    var acked: Set<UInt32> = []
    var duplicateAcks = 0
    var killed = false
    var closed = false
    /// Sent but not acknowledged when the connection closed.
    var inFlightAtClose: Set<UInt32> = []
    var sent: Set<UInt32> = []
}

/// Keeps `window` shares in flight until `sharesPerMiner` were sent.
struct LedgerMiner: Sv2MiningClientHandler {
    let ledger: MinerLedger

    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(OpenStandardMiningChannel(requestID: 1, userIdentity: "m", nominalHashRate: 1e12, maxTarget: .max))
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        ledger.closed = true
        ledger.inFlightAtClose = ledger.sent.subtracting(ledger.acked)
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        ledger.channel = message.channelID
        for _ in 0..<MinerLedger.window { try submitNext(context) }
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        if !ledger.acked.insert(message.lastSequenceNumber).inserted { ledger.duplicateAcks += 1 }
        try submitNext(context)
    }

    private func submitNext(_ context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard !ledger.killed, Int(ledger.nextSequence) < MinerLedger.sharesPerMiner, let channel = ledger.channel else { return }
        let sequence = ledger.nextSequence
        ledger.nextSequence += 1
        ledger.sent.insert(sequence)
        try context.send(SubmitSharesStandard(
            channelID: channel, sequenceNumber: sequence, jobID: 1, nonce: sequence, ntime: 0, version: 0))
    }
}
