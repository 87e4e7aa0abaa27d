import Foundation
import Testing
import Sv2Accounting
import Sv2Pool
import AccountingTestSupport

/// The SQLite store and the reports read back from it (`sv2 accounting summary` / `pplns` use LedgerReader).
@Suite struct SQLiteLedgerStoreTests {
    @Test func windowsAddUpPerUserWithRejectionsAndBlocks() throws {
        let (path, cleanUp) = temporaryLedgerPath("store")
        defer { cleanUp() }
        let store = try SQLiteLedgerStore(path: path, node: "n1")
        try store.commit([
            ShareWindow(sequence: 1, endMilliseconds: 1_000, rows: [
                row("alice.1", channel: 1, accepted: 3, difficulty: 3.5, rejected: ["stale-share": 2]),
                row("bob", channel: 2, accepted: 1, difficulty: 8),
            ], blocks: [
                ShareWindowBlock(hash: "00ab", state: "found", time: 1, height: 7, userIdentity: "bob", channelID: 2,
                                 reward: 5_000_000_000),
            ]),
        ][...])
        // A window closing at the same millisecond (a restart, a clock stepped back) is stored just after the
        // newest one: nothing replaced, keys still increasing. Then the block settles.
        try store.commit([
            ShareWindow(sequence: 2, endMilliseconds: 1_000, rows: [
                row("alice.1", channel: 1, accepted: 2, difficulty: 1.5, rejected: ["stale-share": 1, "accounting-backlog": 4]),
            ], blocks: [ShareWindowBlock(hash: "00ab", state: "acknowledged", time: 2)]),
            ShareWindow(sequence: 3, endMilliseconds: 2_000, rows: [row("bob", channel: 2, accepted: 4, difficulty: 4)], blocks: []),
        ][...])

        let reader = try LedgerReader(path: path)
        let totals = try reader.summary()
        #expect(totals.map(\.user) == ["alice.1", "bob"])
        #expect(totals[0].accepted == 5 && totals[0].difficulty == 5 && totals[0].rejected == 7)
        #expect(totals[1].accepted == 5 && totals[1].difficulty == 12 && totals[1].blocks == 1)
        #expect(totals[1].reward == 5_000_000_000)
        #expect(try reader.rejections() == ["stale-share": 3, "accounting-backlog": 4])
        // --since excludes the older windows (1000 and 1001).
        let recent = try reader.summary(sinceMilliseconds: 1_500)
        #expect(recent.count == 1 && recent[0].user == "bob" && recent[0].accepted == 4)
        #expect(try reader.summary(sinceMilliseconds: 1_001).first { $0.user == "alice.1" }?.accepted == 2)
        // A store opened again continues after the newest key.
        let reopened = try SQLiteLedgerStore(path: path, node: "n1")
        try reopened.commit([ShareWindow(sequence: 1, endMilliseconds: 5, rows: [row("carol", channel: 9, accepted: 1, difficulty: 1)], blocks: [])][...])
        #expect(try reader.summary(sinceMilliseconds: 2_001).map(\.user) == ["carol"])
    }

    @Test func pplnsTakesTheNewestDifficultyAndProratesTheOldestWindow() throws {
        let (path, cleanUp) = temporaryLedgerPath("pplns")
        defer { cleanUp() }
        let store = try SQLiteLedgerStore(path: path)
        try store.commit([
            ShareWindow(sequence: 1, endMilliseconds: 1_000, rows: [row("old", channel: 1, accepted: 1, difficulty: 100)], blocks: []),
            ShareWindow(sequence: 2, endMilliseconds: 2_000, rows: [
                row("a", channel: 2, accepted: 1, difficulty: 10), row("b", channel: 3, accepted: 1, difficulty: 30),
            ], blocks: []),
            ShareWindow(sequence: 3, endMilliseconds: 3_000, rows: [row("a", channel: 2, accepted: 1, difficulty: 20)], blocks: []),
        ][...])
        let reader = try LedgerReader(path: path)
        // 20 (newest, a) + 40 (a 10, b 30) = 60, then 40 of old's 100.
        let split = try reader.pplns(window: 100)
        #expect(split.covered == 100)
        let byUser = Dictionary(uniqueKeysWithValues: split.shares.map { ($0.user, $0.difficulty) })
        #expect(byUser == ["a": 30, "b": 30, "old": 40])
        #expect(split.shares.first?.user == "old" && abs(split.shares.reduce(0) { $0 + $1.fraction } - 1) < 1e-12)
        // A window boundary inside the middle window: pro rata inside it (a 10·0.25, b 30·0.25).
        let partial = try reader.pplns(window: 30)
        let partialByUser = Dictionary(uniqueKeysWithValues: partial.shares.map { ($0.user, $0.difficulty) })
        #expect(partial.covered == 30 && partialByUser == ["a": 22.5, "b": 7.5])
        // More than the ledger holds: everything, covered < window.
        #expect(try reader.pplns(window: 1e9).covered == 160)
    }

    @Test func theDatabaseIsInWALModeWithItsDirectoryCreated() throws {
        let (path, cleanUp) = temporaryLedgerPath("wal")
        defer { cleanUp() }
        _ = try SQLiteLedgerStore(path: path)
        #expect(FileManager.default.fileExists(atPath: path))
        let header = try #require(FileHandle(forReadingAtPath: path)?.readData(ofLength: 20))
        // SQLite file header bytes 18/19 (write/read format versions) are 2 in WAL mode.
        #expect(header.count == 20 && header[18] == 2 && header[19] == 2)
    }
}
