import Foundation
import Testing
import Sv2Accounting
import Sv2Pool
import AccountingTestSupport

/// The writer thread and its bounded queue.
@Suite struct ShareLedgerTests {
    static func window(_ sequence: UInt64, accepted: UInt64 = 1) -> ShareWindow {
        ShareWindow(
            sequence: sequence, endMilliseconds: 1_000 + sequence,
            rows: [row("u", channel: 1, accepted: accepted, difficulty: Double(accepted))], blocks: [])
    }

    @Test func aFullQueueRefusesAndCommitsAreReportedInOrder() throws {
        let (path, cleanUp) = temporaryLedgerPath("queue")
        defer { cleanUp() }
        let store = GatedStore(try SQLiteLedgerStore(path: path))
        let ledger = ShareLedger(store: store, capacity: 3)
        let reported = Reported()
        ledger.setCommitHandler { reported.append($0) }
        ledger.start()
        defer { ledger.stop() }

        store.close()
        #expect(ledger.record(Self.window(1)))
        // The writer took window 1 and waits at the gate; it still counts against the bound.
        #expect(waitFor { store.attemptCount == 1 })
        #expect(ledger.record(Self.window(2)))
        #expect(ledger.record(Self.window(3)))
        #expect(!ledger.record(Self.window(4)))
        #expect(ledger.statistics.queueDepth == 3 && ledger.statistics.refusedWindows == 1)
        #expect(!ledger.waitUntilCommitted(1, timeout: .milliseconds(50)))

        store.reopen()
        #expect(ledger.waitUntilCommitted(3, timeout: .seconds(20)))
        #expect(waitFor { reported.values.last == 3 })
        // Window 1 alone, then 2 and 3 in one group commit.
        #expect(store.committedBatches == [[1], [2, 3]])
        #expect(reported.values == [1, 3])
        #expect(ledger.record(Self.window(4)))
        #expect(ledger.waitUntilCommitted(4, timeout: .seconds(20)))
        #expect(try LedgerReader(path: path).summary().first?.accepted == 4)
        #expect(ledger.statistics.queueDepth == 0 && ledger.statistics.committedWindows == 4)
    }

    @Test func aFailedCommitIsRetriedWithTheSameWindowsAndNothingIsReportedMeanwhile() throws {
        let (path, cleanUp) = temporaryLedgerPath("retry")
        defer { cleanUp() }
        let store = GatedStore(try SQLiteLedgerStore(path: path))
        store.failNext(2)
        let ledger = ShareLedger(store: store, capacity: 4, retryDelay: .milliseconds(10))
        let reported = Reported()
        ledger.setCommitHandler { reported.append($0) }
        ledger.start()
        defer { ledger.stop() }
        #expect(ledger.record(Self.window(1, accepted: 5)))
        #expect(ledger.waitUntilCommitted(1, timeout: .seconds(20)))
        #expect(store.attemptCount >= 3 && ledger.statistics.failedCommits == 2)
        #expect(waitFor { reported.values == [1] })
        #expect(try LedgerReader(path: path).summary().first?.accepted == 5)
    }

    /// Ports (one per loop of a multi-core pool): each numbers its own windows from 1, the windows of all ports share
    /// one bounded queue and one writer (committed in the order queued, keys kept distinct by the store), and each
    /// port hears of its own commits only.
    @Test func portsShareTheWriterAndEachHearsItsOwnCommits() throws {
        let (path, cleanUp) = temporaryLedgerPath("ports")
        defer { cleanUp() }
        let store = GatedStore(try SQLiteLedgerStore(path: path))
        let ledger = ShareLedger(store: store, capacity: 4)
        let port = ledger.makePort()
        let (ownReports, portReports) = (Reported(), Reported())
        ledger.setCommitHandler { ownReports.append($0) }
        port.setCommitHandler { portReports.append($0) }
        ledger.start()
        defer { ledger.stop() }

        store.close()
        // Two pools' windows 1 and 2, interleaved, with the same close time: the store keeps their keys apart.
        #expect(ledger.record(Self.window(1)))
        #expect(waitFor { store.attemptCount == 1 })
        #expect(port.record(ShareWindow(
            sequence: 1, endMilliseconds: 1_001, rows: [row("v", channel: 1 << 31 | 1, accepted: 2, difficulty: 2)],
            blocks: [])))
        #expect(port.record(ShareWindow(
            sequence: 2, endMilliseconds: 1_002, rows: [row("v", channel: 1 << 31 | 1, accepted: 3, difficulty: 3)],
            blocks: [])))
        #expect(ledger.record(Self.window(2)))
        // The queue bound is shared: the fifth window waits.
        #expect(!port.record(ShareWindow(sequence: 3, endMilliseconds: 1_003, rows: [], blocks: [])))
        #expect(!port.waitUntilCommitted(1, timeout: .milliseconds(50)))

        store.reopen()
        #expect(port.waitUntilCommitted(2, timeout: .seconds(20)))
        #expect(ledger.waitUntilCommitted(2, timeout: .seconds(20)))
        #expect(waitFor { ownReports.values.last == 2 && portReports.values.last == 2 })
        #expect(ownReports.values == [1, 2])
        #expect(portReports.values == [2])
        let totals = Dictionary(uniqueKeysWithValues: try LedgerReader(path: path).summary().map { ($0.user, $0.accepted) })
        #expect(totals == ["u": 2, "v": 5])
    }

    @Test func stopCommitsWhatIsQueued() throws {
        let (path, cleanUp) = temporaryLedgerPath("stop")
        defer { cleanUp() }
        let ledger = ShareLedger(store: try SQLiteLedgerStore(path: path), capacity: 8)
        ledger.start()
        for sequence in 1...5 { #expect(ledger.record(Self.window(UInt64(sequence)))) }
        #expect(ledger.stop(timeout: .seconds(20)))
        #expect(try LedgerReader(path: path).summary().first?.accepted == 5)
        // A stopped ledger takes nothing more (the pool would refuse shares rather than lose them).
        #expect(!ledger.record(Self.window(6)))
    }
}
