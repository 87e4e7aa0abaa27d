import Foundation
import Glibc
import Sv2Codec
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining

/// The block journal read back after a restart (``BlockJournalReader``): entries written by ``BlockJournal`` round
/// trip, each block's lines fold into its latest state, unsettled blocks are listed, and a bad line (cut short by a
/// crash, garbage, too long) is reported with its line and field without hiding the good lines around it.
@Suite struct BlockJournalReaderTests {
    /// A fresh directory (removed by the caller).
    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sv2-journal-\(UInt64.random(in: 0...UInt64.max))").path
    }

    /// A header on `prev` whose hash is what the journal names (any fields; `nonce` tells blocks apart).
    static func header(nonce: UInt32, prev: UInt8 = 7) -> BlockHeader {
        BlockHeader(
            version: 0x2000_0000, prevHash: Hash256(bytes: [UInt8](repeating: prev, count: 32))!,
            merkleRoot: Hash256(bytes: [UInt8](repeating: 9, count: 32))!, ntime: 1_700_000_000, nbits: 0x207f_ffff,
            nonce: nonce)
    }

    /// A found block record: a pool's (`withData` false) or a JD server's whole block (`withData` true).
    static func found(nonce: UInt32, user: String = "alice.rig1", height: UInt32? = 151, time: UInt64 = 1_700_000_100, withData: Bool = false)
        -> BlockJournalEntry
    {
        let header = header(nonce: nonce)
        let coinbase: [UInt8] = [2, 0, 0, 0, 1] + [UInt8](repeating: 0xab, count: 40) + [0, 0, 0, 0]
        let block = FoundBlock(
            hash: header.hash, header: header, templateID: 42, channelID: 3, userIdentity: user, coinbaseTransaction: coinbase)
        return BlockJournalEntry(
            event: .found, hash: header.hash, time: time, block: block, height: height,
            blockData: withData ? header.bytes + [1] + coinbase : nil)
    }

    @Test func everyEventKindRoundTripsThroughTheWriter() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try BlockJournal(directory: directory)
        let pool = Self.found(nonce: 1, user: "quote\" back\\slash \u{1}\u{2028} ünï 🚀")
        let jd = Self.found(nonce: 2, height: nil, withData: true)
        let settledLater = Self.found(nonce: 3)
        let entries: [BlockJournalEntry] = [
            pool,
            jd,
            settledLater,
            .init(event: .submitted, hash: pool.hash, time: 1_700_000_101),
            .init(event: .submitted, hash: jd.hash, time: 1_700_000_102, reason: "submitblock: accepted"),
            .init(event: .superseded, hash: settledLater.hash, time: 1_700_000_103),
            .init(event: .acknowledged, hash: Self.header(nonce: 4).hash, time: 1_700_000_104),
            .init(event: .failed, hash: Self.header(nonce: 5).hash, time: 1_700_000_105, reason: "template gone\nsecond line"),
        ]
        for entry in entries { try journal.append(entry) }

        // Each line parses back to the entry written.
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: journal.path)))
        let lines = bytes.split(separator: 0x0a)
        #expect(lines.count == entries.count)
        for (index, line) in lines.enumerated() {
            #expect(try BlockJournalEntry(jsonLine: line, lineNumber: index + 1) == entries[index])
        }

        // The directory and the file name the same journal.
        let reader = try BlockJournalReader(path: directory)
        #expect(reader.path == journal.path)
        #expect(try BlockJournalReader(path: journal.path).records == reader.records)
        #expect(reader.problems.isEmpty && reader.lineCount == entries.count)
        #expect(reader.records.count == 5)
        let poolRecord = try #require(reader.record(pool.hash))
        #expect(poolRecord.state == .submitted && !poolRecord.isSettled)
        #expect(poolRecord.height == 151 && poolRecord.foundTime == 1_700_000_100 && poolRecord.time == 1_700_000_101)
        #expect(poolRecord.block == pool.block && poolRecord.blockData == nil && poolRecord.foundLine == 1 && poolRecord.lastLine == 4)
        let jdRecord = try #require(reader.record(jd.hash))
        #expect(jdRecord.blockData == jd.blockData && jdRecord.height == nil && jdRecord.reason == "submitblock: accepted")
        let superseded = try #require(reader.record(settledLater.hash))
        #expect(superseded.isSettled && superseded.state == .superseded && superseded.blockData == nil)
        // Lines about a block whose found line is not in this file still make a record (settled here).
        let failed = try #require(reader.record(Self.header(nonce: 5).hash))
        #expect(failed.isSettled && failed.foundLine == nil && failed.reason == "template gone\nsecond line")
        #expect(reader.unsettled.map(\.hash) == [pool.hash, jd.hash])
    }

    @Test func aFoundLineAfterASettlementOpensTheBlockAgain() throws {
        let block = Self.found(nonce: 9, withData: true)
        var text = block.jsonLine + "\n"
        text += BlockJournalEntry(event: .failed, hash: block.hash, time: 2, reason: "node down").jsonLine + "\n"
        var reader = BlockJournalReader(bytes: Array(text.utf8))
        // Failed, but the whole block is kept: `sv2 blocks submit --retry-failed` can send it again.
        #expect(reader.unsettled.isEmpty && reader.record(block.hash)?.blockData == block.blockData)
        #expect(reader.failedWithBlockData.map(\.hash) == [block.hash])
        text += block.jsonLine + "\n"
        reader = BlockJournalReader(bytes: Array(text.utf8))
        let record = try #require(reader.unsettled.first)
        #expect(record.hash == block.hash && record.blockData == block.blockData && record.foundLine == 3)
        #expect(reader.failedWithBlockData.isEmpty)
        // Acknowledged: settled for good, its bytes dropped.
        text += BlockJournalEntry(event: .acknowledged, hash: block.hash, time: 3).jsonLine + "\n"
        reader = BlockJournalReader(bytes: Array(text.utf8))
        #expect(reader.unsettled.isEmpty && reader.failedWithBlockData.isEmpty && reader.record(block.hash)?.blockData == nil)
    }

    /// A pool journals its block's data on a second `found` line once its template provider answered: it adds the
    /// block and changes nothing else, and coming after a verdict it changes nothing at all.
    @Test func aSecondFoundLineOnlyAddsDataAndNeverOverturnsAVerdict() throws {
        let found = Self.found(nonce: 31)
        let whole = Self.found(nonce: 31, time: 1_700_000_500, withData: true)
        let submitted = BlockJournalEntry(event: .submitted, hash: found.hash, time: 1_700_000_101)
        // found, submitted, data: still submitted, same times, now with the block.
        var text = found.jsonLine + "\n" + submitted.jsonLine + "\n" + whole.jsonLine + "\n"
        var record = try #require(BlockJournalReader(bytes: Array(text.utf8)).record(found.hash))
        #expect(record.state == .submitted && !record.isSettled && record.time == 1_700_000_101)
        #expect(record.foundTime == 1_700_000_100 && record.foundLine == 1 && record.lastLine == 3)
        #expect(record.blockData == whole.blockData)
        // Then acknowledged: settled, bytes dropped.
        text += BlockJournalEntry(event: .acknowledged, hash: found.hash, time: 1_700_000_600).jsonLine + "\n"
        record = try #require(BlockJournalReader(bytes: Array(text.utf8)).record(found.hash))
        #expect(record.state == .acknowledged && record.isSettled && record.blockData == nil)

        // The data after the verdict (the tip moved before the answer was journaled): the verdict stands.
        for verdict in [BlockJournalEntry.Event.acknowledged, .superseded] {
            let late = found.jsonLine + "\n" + submitted.jsonLine + "\n"
                + BlockJournalEntry(event: verdict, hash: found.hash, time: 1_700_000_200).jsonLine + "\n"
                + whole.jsonLine + "\n"
            let reader = BlockJournalReader(bytes: Array(late.utf8))
            let settled = try #require(reader.record(found.hash))
            #expect(settled.state == verdict && settled.isSettled && settled.time == 1_700_000_200)
            #expect(settled.blockData == nil && settled.lastLine == 4 && reader.unsettled.isEmpty)
        }
    }

    /// A crash mid-write leaves the last line cut short (no newline): every earlier line still counts, and the cut
    /// one is reported as truncated, naming its line and the field that was being written.
    @Test func aTruncatedLastLineIsReportedAndTheRestIsRead() throws {
        let first = Self.found(nonce: 11)
        let second = Self.found(nonce: 12, withData: true)
        let whole = first.jsonLine + "\n" + second.jsonLine
        let cutInBlock = String(whole.prefix(whole.count - 30))
        var reader = BlockJournalReader(bytes: Array(cutInBlock.utf8))
        #expect(reader.records.map(\.hash) == [first.hash])
        #expect(reader.problems == [.truncated(line: 2, field: "block")])
        #expect("\(reader.problems[0])".contains("line 2") && "\(reader.problems[0])".contains("block"))
        // Cut right after the opening brace, and right before the closing one.
        reader = BlockJournalReader(bytes: Array((first.jsonLine + "\n{").utf8))
        #expect(reader.problems == [.truncated(line: 2, field: "(line)")] && reader.records.count == 1)
        reader = BlockJournalReader(bytes: Array((first.jsonLine + "\n" + second.jsonLine.dropLast()).utf8))
        #expect(reader.problems == [.truncated(line: 2, field: "block")])
        // A complete last line without its newline is a good line.
        reader = BlockJournalReader(bytes: Array((first.jsonLine + "\n" + second.jsonLine).utf8))
        #expect(reader.problems.isEmpty && reader.unsettled.count == 2)

        // The same from a file on disk.
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try BlockJournal(directory: directory)
        try journal.append(first)
        try journal.append(second)
        let fd = open(journal.path, O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        let bytes = Array(cutInBlock.utf8)
        #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) } == bytes.count)
        close(fd)
        let fromFile = try BlockJournalReader(path: directory)
        #expect(fromFile.records.map(\.hash) == [first.hash] && fromFile.problems == [.truncated(line: 2, field: "block")])
    }

    @Test func garbageAndInconsistentLinesAreReportedWithTheirField() throws {
        let good = Self.found(nonce: 21)
        let later = Self.found(nonce: 22, withData: true)
        let goodLine = good.jsonLine
        let otherHeader = Sv2Hex.encode(Self.header(nonce: 99).bytes)
        let lines: [(String, BlockJournalReadError?)] = [
            (goodLine, nil),
            ("this is not json", .malformed(line: 2, field: "(line)", problem: "not a JSON object")),
            ("{\"time\":1,\"event\":\"exploded\",\"hash\":\"\(good.hash.displayHex)\"}",
             .malformed(line: 3, field: "event", problem: "unknown event \"exploded\"")),
            ("{\"time\":1,\"event\":\"found\"}", .malformed(line: 4, field: "hash", problem: "missing")),
            ("{\"time\":\"1\",\"event\":\"found\",\"hash\":\"\(good.hash.displayHex)\"}",
             .malformed(line: 5, field: "time", problem: "a number expected")),
            ("{\"time\":1,\"event\":\"found\",\"hash\":\"zz\"}", .malformed(line: 6, field: "hash", problem: "not 64 hex digits")),
            (goodLine.replacingOccurrences(of: Sv2Hex.encode(good.block!.header.bytes), with: otherHeader), nil),
            ("{\"time\":18446744073709551616,\"event\":\"found\"}", .malformed(line: 8, field: "time", problem: "number too large")),
            ("{\"time\":1,\"time\":2}", .malformed(line: 9, field: "time", problem: "appears twice")),
            (goodLine + " trailing", .malformed(line: 10, field: "(end)", problem: "text after the object")),
            ("{\"time\":1,\"event\":\"found\",\"hash\":\"\(good.hash.displayHex)\",\"user\":\"x\"}",
             .malformed(line: 11, field: "user", problem: "present without header")),
            ("", nil),
            (later.jsonLine, nil),
        ]
        let text = lines.map(\.0).joined(separator: "\n") + "\n"
        let reader = BlockJournalReader(bytes: Array(text.utf8))
        #expect(reader.records.map(\.hash) == [good.hash, later.hash])
        #expect(reader.problems.count == 10)
        for (index, (_, expected)) in lines.enumerated() {
            guard let expected else { continue }
            #expect(reader.problems.contains(expected), "line \(index + 1): \(reader.problems.filter { $0.line == index + 1 })")
        }
        // Line 7: a header that does not hash to the line's hash (a block that is not the one named).
        let line7 = try #require(reader.problems.first { $0.line == 7 })
        guard case .malformed(_, "header", _) = line7 else {
            Issue.record("line 7: \(line7)")
            return
        }
        // A block_data whose header is another block's is refused too: it would submit something else.
        let wrongData = BlockJournalEntry(
            event: .found, hash: good.hash, time: 1, blockData: Self.header(nonce: 98).bytes + [1, 2])
        #expect(throws: BlockJournalReadError.self) { try BlockJournalEntry(jsonLine: Array(wrongData.jsonLine.utf8)[...], lineNumber: 1) }
        do {
            _ = try BlockJournalEntry(jsonLine: Array(wrongData.jsonLine.utf8)[...], lineNumber: 4)
        } catch {
            guard case .malformed(4, "block", _) = error else {
                Issue.record("\(error)")
                return
            }
        }
    }

    @Test func anOversizeLineIsSkippedUpToItsNewline() throws {
        let small = Self.found(nonce: 31)
        let big = Self.found(nonce: 32, withData: true)
        let limit = small.jsonLine.utf8.count + 10
        #expect(big.jsonLine.utf8.count > limit)
        let text = small.jsonLine + "\n" + big.jsonLine + "\n" + small.jsonLine.replacingOccurrences(of: "1700000100", with: "1700000200") + "\n"
        let reader = BlockJournalReader(bytes: Array(text.utf8), maximumLineLength: limit)
        #expect(reader.problems == [.lineTooLong(line: 2, limit: limit)])
        // The third line was read: a repeated found line of an open block only adds to it (its found time stays).
        #expect(reader.records.count == 1 && reader.records[0].lastLine == 3 && reader.lineCount == 3)
        #expect(reader.records[0].foundTime == 1_700_000_100)

        // From a file, with lines straddling the reader's 64 KiB chunks.
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try BlockJournal(directory: directory)
        var huge = Self.found(nonce: 33, withData: true)
        huge.blockData = Self.header(nonce: 33).bytes + [UInt8](repeating: 0x5a, count: 200_000)
        try journal.append(small)
        try journal.append(huge)
        try journal.append(big)
        let bounded = try BlockJournalReader(path: directory, maximumLineLength: 100_000)
        #expect(bounded.problems == [.lineTooLong(line: 2, limit: 100_000)])
        #expect(bounded.records.map(\.hash) == [small.hash, big.hash] && bounded.lineCount == 3)
        let unbounded = try BlockJournalReader(path: directory)
        #expect(unbounded.problems.isEmpty && unbounded.record(huge.hash)?.blockData == huge.blockData)
    }

    @Test func aMissingJournalIsEmptyAndAnUnreadableOneIsAnError() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reader = try BlockJournalReader(path: directory + "/never-written")
        #expect(reader.records.isEmpty && reader.problems.isEmpty)
        #expect(mkdir(directory, 0o700) == 0)
        #expect(try BlockJournalReader(path: directory).records.isEmpty)
        // A directory where blocks.jsonl should be a file: read fails with the system call named.
        #expect(mkdir(directory + "/blocks.jsonl", 0o700) == 0)
        #expect(throws: BlockJournalReadError.system(call: "read", path: directory + "/blocks.jsonl", errno: EISDIR)) {
            try BlockJournalReader(path: directory)
        }
    }
}
