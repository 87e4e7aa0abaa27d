import AccountingTestSupport
import Foundation
import Reactor
import Sv2Accounting
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// A pool with a share ledger over loopback: shares are acknowledged only after the window holding them is
/// committed, a full ledger queue refuses shares (`accounting-backlog`) instead of acknowledging unrecorded work,
/// and found blocks get a row.
@Suite("Pool with a share ledger", .serialized)
struct PoolLedgerTests {
    struct Setup {
        let runner: LoopRunner
        let service: PoolService
        let store: GatedStore
        let ledger: ShareLedger
        let path: String
        let cleanUp: () -> Void

        func tearDown() {
            store.reopen()
            _ = runner.stop()
            ledger.stop()
            cleanUp()
        }
    }

    static func start(
        capacity: Int = 8, templates: EmbeddedTemplateProvider.Configuration = PoolServiceTests.hardNetwork
    ) throws -> Setup {
        let (path, cleanUp) = temporaryLedgerPath("pool")
        let store = GatedStore(try SQLiteLedgerStore(path: path, node: "test"))
        let ledger = ShareLedger(store: store, capacity: capacity)
        ledger.start()
        let runner = try LoopRunner(.epoll)
        let service = try startPool(runner, configuration: PoolServiceTests.configuration {
            $0.ackInterval = .milliseconds(20)
            $0.ackBatchSize = 1
        }, templates: templates)
        try runner.sync { service.pool.ledger = ledger }
        return Setup(runner: runner, service: service, store: store, ledger: ledger, path: path, cleanUp: cleanUp)
    }

    /// Sends `count` shares on the miner's channel; returns their total difficulty (at the channel target).
    static func send(_ count: Int, _ miner: TestMinerState, via client: TestMinerClient, runner: LoopRunner) throws {
        try runner.sync {
            for _ in 0..<count {
                let share = try #require(miner.findShare())
                try client.send(share.fields.standard)
            }
        }
    }

    @Test func rejectionReasonsIndexTheirOwnCode() {
        #expect(ShareWindowRow.reasons.count == ShareRejection.allCases.count + 1)
        for rejection in ShareRejection.allCases {
            #expect(ShareWindowRow.reasons[rejection.reasonIndex] == rejection.code)
        }
        #expect(ShareWindowRow.reasons.last == Pool.accountingBacklogCode)
    }

    @Test func sharesAreAcknowledgedOnlyAfterTheirWindowIsCommitted() throws {
        let setup = try Self.start()
        defer { setup.tearDown() }
        let (runner, pool) = (setup.runner, setup.service.pool)
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: setup.service, state: miner)
        let difficulty = runner.inspect { miner.target.difficulty }

        setup.store.close()
        try Self.send(10, miner, via: client, runner: runner)
        // Every share accepted and handed to the ledger in a closed window (the tick ran after them) ...
        #expect(try runner.wait(timeout: 30) {
            pool.statistics.sharesAccepted == 10 && !pool.hasOpenWindow && pool.uncommittedWindowCount >= 1
        })
        // ... yet nothing acknowledged while the commit is held back (without a ledger that tick sent the acks).
        #expect(runner.inspect { pool.statistics.acksSent == 0 && miner.acks.isEmpty })

        setup.store.reopen()
        #expect(try runner.wait(timeout: 30) { miner.acknowledged == 10 })
        let acked = runner.inspect { miner.acks.reduce(UInt64(0)) { $0 + $1.newSharesSum } }
        let totals = try LedgerReader(path: setup.path).summary()
        #expect(totals.count == 1 && totals.first?.user == "tester.std")
        #expect(totals.first?.accepted == 10 && totals.first?.credit == acked)
        #expect(abs((totals.first?.difficulty ?? 0) - 10 * difficulty) <= 1e-9 * difficulty)
        #expect(runner.inspect { pool.statistics.accountingCommits >= 1 && pool.uncommittedWindowCount == 0 })
    }

    /// Back-pressure: with the ledger's queue full the pool stops reading from its miners — a share sent meanwhile
    /// is neither answered nor refused, it waits in the socket — and refuses new channels; once the ledger catches up
    /// reading resumes and every share is validated, recorded and acknowledged. Nothing refused, nothing lost.
    @Test func aFullLedgerQueuePausesReadingUntilItCatchesUp() throws {
        let setup = try Self.start(capacity: 1)
        defer { setup.tearDown() }
        let (runner, pool) = (setup.runner, setup.service.pool)
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: setup.service, state: miner)

        setup.store.close()
        // Window 1 (share A) goes to the writer, which blocks at the closed gate: the queue (1) is full.
        try Self.send(1, miner, via: client, runner: runner)
        #expect(try runner.wait(timeout: 30) { pool.statistics.accountingWindows == 1 })
        // Share B is accepted, but its window cannot be handed over: backlog, the miner's connection is paused.
        try Self.send(1, miner, via: client, runner: runner)
        #expect(try runner.wait(timeout: 30) { pool.accountingBacklog && pool.statistics.sharesAccepted == 2 })
        let connection = try #require(runner.inspect { miner.channelID.flatMap { pool.connection(ofChannel: $0) } })
        #expect(runner.inspect { setup.service.server.connections.isReadingPaused(connection) == true })
        // Share C waits in the socket: not validated, not answered.
        try Self.send(1, miner, via: client, runner: runner)
        // A new miner cannot open a channel while the ledger is behind (the held window stays bounded).
        let late = TestMinerState(extended: false)
        let lateClient = try connectMiner(runner, to: setup.service, state: late, waitForJob: false)
        #expect(try runner.wait(timeout: 30) { late.openErrors.contains(Pool.accountingBacklogCode) })
        #expect(runner.inspect { lateClient.isReady && pool.statistics.channelsRefused == 1 })
        #expect(runner.inspect {
            pool.statistics.sharesAccepted == 2 && pool.statistics.sharesRejected == 0 && miner.errors.isEmpty
                && miner.acks.isEmpty && pool.statistics.accountingBacklogs == 1
        })

        setup.store.reopen()
        // Window 1 commits → A acknowledged; room again → window 2 handed over, reading resumes, C is validated into
        // window 3; all three acknowledged, none refused.
        #expect(try runner.wait(timeout: 30) { miner.acknowledged == 3 && !pool.accountingBacklog })
        #expect(runner.inspect { setup.service.server.connections.isReadingPaused(connection) == false })
        try Self.send(1, miner, via: client, runner: runner)
        #expect(try runner.wait(timeout: 30) { miner.acknowledged == 4 })
        #expect(waitFor { setup.ledger.statistics.queueDepth == 0 })
        let reader = try LedgerReader(path: setup.path)
        #expect(try reader.summary().first { $0.user == "tester.std" }?.accepted == 4)
        #expect(try reader.rejections().isEmpty)
        #expect(runner.inspect { miner.errors.isEmpty })
    }

    /// Rows of channels that close while the ledger is behind stay in the held window; past the cap, rows holding
    /// only rejections are folded into the channel-less row (bounded memory), and the rejection totals in the
    /// database are the same either way. (A paused client's own close is noticed when reading resumes; the server
    /// closes connections meanwhile too — inactivity, a full write buffer — which is what this test does.)
    @Test func rowsOfClosedChannelsDuringABacklogAreBounded() throws {
        let setup = try Self.start(capacity: 1)
        defer { setup.tearDown() }
        let (runner, pool) = (setup.runner, setup.service.pool)
        runner.inspect { pool.maximumClosedRows = 0 }
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: setup.service, state: miner)
        let passer = TestMinerState(extended: false)
        let passing = try connectMiner(runner, to: setup.service, state: passer)
        setup.store.close()
        try Self.send(1, miner, via: client, runner: runner)
        #expect(try runner.wait(timeout: 30) { pool.statistics.accountingWindows == 1 })
        // The passer sends a share for a job that does not exist: a rejection-only row in the window that cannot be
        // handed over (backlog), then the server closes its connection.
        try runner.sync {
            var share = try #require(passer.findShare()).fields
            share.jobID = 0xdead
            try passing.send(share.standard)
        }
        #expect(try runner.wait(timeout: 30) { pool.accountingBacklog && pool.statistics.sharesRejected == 1 })
        try runner.sync {
            let channel = try #require(passer.channelID)
            setup.service.server.connections.close(try #require(pool.connection(ofChannel: channel)))
        }
        #expect(try runner.wait(timeout: 30) { pool.statistics.channelsClosed == 1 })
        #expect(runner.inspect { pool.statistics.accountingRowsFolded == 1 && pool.accountingBacklog })

        setup.store.reopen()
        #expect(try runner.wait(timeout: 30) { miner.acknowledged == 1 && !pool.accountingBacklog && !pool.hasOpenWindow })
        #expect(waitFor { setup.ledger.statistics.queueDepth == 0 && runner.inspect { pool.uncommittedWindowCount == 0 } })
        let reader = try LedgerReader(path: setup.path)
        #expect(try reader.rejections() == [ShareRejection.invalidJobID.code: 1])
        // The folded row went to the channel-less row (user ""); the credit stays with its user.
        let summary = try reader.summary()
        #expect(summary.first { $0.user == "tester.std" }?.accepted == 1)
        #expect(summary.reduce(0) { $0 + $1.accepted } == 1)
    }

    @Test func aFoundBlockGetsARowThatFollowsItsState() throws {
        // Trivial network target: every share is a block.
        let setup = try Self.start(templates: .init(source: .init(nbits: 0x207f_ffff), refreshInterval: nil))
        defer { setup.tearDown() }
        let (runner, service) = (setup.runner, setup.service)
        let provider = try #require(service.embeddedTemplateProvider)
        let reward = try runner.sync { provider.source.template.coinbaseTxValueRemaining }
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: service, state: miner)
        try Self.send(1, miner, via: client, runner: runner)
        // Acknowledged once durable; the chain tip moves onto the block (the provider took it).
        #expect(try runner.wait(timeout: 30) { miner.acknowledged == 1 && provider.acceptedBlocks.count == 1 })
        let hash = runner.inspect { provider.acceptedBlocks[0].hash.displayHex }
        #expect(waitFor {
            (try? LedgerReader(path: setup.path).blocks().first?.state) == "acknowledged"
        })
        let blocks = try LedgerReader(path: setup.path).blocks()
        #expect(blocks.count == 1 && blocks[0].hash == hash && blocks[0].user == "tester.std")
        #expect(blocks[0].reward == reward && blocks[0].height != nil)
        let totals = try LedgerReader(path: setup.path).summary()
        #expect(totals.first?.blocks == 1 && totals.first?.accepted == 1)
    }
}

/// Opt-in measurement (`SV2_MEASURE_LATENCY=1`): what "acknowledged means durable" adds to an acknowledgement —
/// from the tick that closes a window (where a pool without a ledger would send the ack) to the commit reported
/// back on the loop, with a real SQLite ledger (WAL, synchronous=FULL) in a temporary directory.
@Suite(
    "Accounting acknowledgement latency",
    .enabled(if: ProcessInfo.processInfo.environment["SV2_MEASURE_LATENCY"] == "1"))
struct AccountingLatencyMeasurement {
    @Test func commitLatencyPerWindow() throws {
        let (path, cleanUp) = temporaryLedgerPath("latency")
        defer { cleanUp() }
        let ledger = ShareLedger(store: try SQLiteLedgerStore(path: path))
        ledger.start()
        defer { ledger.stop() }
        let runner = try LoopRunner(.epoll)
        defer { _ = runner.stop() }
        let service = try startPool(runner, configuration: PoolServiceTests.configuration { $0.ackBatchSize = 1_000 })
        try runner.sync { service.pool.ledger = ledger }
        let miner = TestMinerState(extended: false)
        let client = try connectMiner(runner, to: service, state: miner)
        var samples: [Double] = []
        for round in 0..<60 {
            try runner.sync { try client.send(try #require(miner.findShare()).fields.standard) }
            #expect(try runner.wait(timeout: 30) { miner.acknowledged == UInt32(round + 1) })
            samples.append(runner.inspect { service.pool.statistics.accountingLastCommitLatency })
        }
        samples.sort()
        func ms(_ q: Double) -> String { String(format: "%.2f ms", samples[Int(Double(samples.count - 1) * q)] * 1000) }
        print("ack latency added by the ledger (window close → commit on the loop): p50 \(ms(0.5)), p90 \(ms(0.9)), max \(ms(1))")
        #expect(samples.allSatisfy { $0 > 0 })
    }
}
