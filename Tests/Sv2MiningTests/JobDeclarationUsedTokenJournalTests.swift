import Foundation
import Logging
import Synchronization
import Sv2Noise
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Pool

/// The used-token journal of `MiningJobTokenVerifier`: spent ids on disk before the job is accepted, reloaded by a
/// restarted verifier (replays refused, fresh tokens taken), expired ids dropped and the file compacted, a crash's
/// torn last line skipped with a warning, damage elsewhere refused at start-up, a failed record refusing the job.
@Suite("Job Declaration: used-token journal")
struct JobDeclarationUsedTokenJournalTests {
    static let poolScript = JobDeclarationRemoteHostileTests.poolScript
    static let start: UInt64 = 1_800_000_000

    /// A fresh directory (removed by the caller's `defer`).
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-used-tokens-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func journalPath(_ directory: String) -> String { directory + "/" + UsedTokenJournal.fileName }

    static func request(_ token: [UInt8], user: String = "alice") -> CustomMiningJobRequest {
        CustomMiningJobRequest(
            channelID: 1, userIdentity: user, token: token, version: 0x2000_0000, prevHash: .zero, minNtime: 0,
            nbits: 0x1d00_ffff, coinbaseTxVersion: 2, coinbasePrefix: JobDeclarationRemoteHostileTests.prefix,
            coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: JobDeclarationRemoteHostileTests.fair,
            coinbaseTxLocktime: 0, merklePath: [])
    }

    static func token(id: UInt64, expires: UInt64, key: AuthorityKeyPair) throws -> [UInt8] {
        try JobDeclarationRemoteHostileTests.token(id: id, expires: expires, key: key)
    }

    /// A verifier on the journal at `path`, opened at `clock` (as `sv2 pool` opens it at start).
    static func verifier(
        _ path: String, key: AuthorityKeyPair, clock: UInt64, logger: Logger = Logger(label: "test.job-tokens")
    ) throws -> (MiningJobTokenVerifier, UsedTokenJournal) {
        let journal = try UsedTokenJournal(path: path, now: clock, logger: logger)
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: poolScript)], journal: journal)
        verifier.now = { clock }
        return (verifier, journal)
    }

    static func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test func lineFormatRoundTrips() {
        for (id, expires) in [(UInt64(0), UInt32(0)), (0x0123_4567_89ab_cdef, 1_800_000_000), (.max, .max)] {
            let line = UsedTokenJournal.line(id: id, expires: expires)
            #expect(line.count <= UsedTokenJournal.maximumLineLength && line.last == UInt8(ascii: "\n"))
            let parsed = UsedTokenJournal.parse(line.dropLast())
            #expect(parsed?.0 == id && parsed?.1 == expires)
        }
        #expect(String(decoding: UsedTokenJournal.line(id: 0xab, expires: 7), as: UTF8.self) == "00000000000000ab 7\n")
        // Exactly the format written: no upper case, no sign, no missing digits, no expiry beyond 32 bits.
        for bad in ["00000000000000AB 7", "00000000000000ab  7", "0000000000000ab 7", "00000000000000ab -7",
                    "00000000000000ab ", "00000000000000ab 4294967296", "00000000000000ab 7 ", "zz000000000000ab 7"] {
            #expect(UsedTokenJournal.parse(ArraySlice(bad.utf8)) == nil, "\(bad)")
        }
    }

    /// Recorded before the job is accepted, reloaded by a restarted verifier: the replay is refused, a fresh token
    /// is taken; the file is mode 0600.
    @Test func restartedVerifierRefusesAReplayedTokenAndTakesAFreshOne() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = Self.journalPath(directory)
        let key = try AuthorityKeyPair.generate()
        let clock = Self.start
        let used = try Self.token(id: 41, expires: clock + 600, key: key)
        do {
            let (verifier, journal) = try Self.verifier(path, key: key, clock: clock)
            #expect(journal.lineCount == 0)
            #expect(verifier.authorize(Self.request(used)) == nil)
            // On disk by the time the job is accepted.
            #expect(try Self.text(path) == "0000000000000029 \(clock + 600)\n")
            #expect(journal.lineCount == 1)
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        }
        // The pool restarts: a new journal and verifier, half the token's lifetime later.
        let (restarted, journal) = try Self.verifier(path, key: key, clock: clock + 300)
        #expect(journal.lineCount == 1 && journal.expiredAtOpening == 0 && journal.skippedLines == 0)
        #expect(restarted.rememberedTokenCount == 1)
        #expect(journal.takeRemembered().isEmpty)  // handed over once
        #expect(restarted.authorize(Self.request(used)) == "invalid-mining-job-token")
        #expect(restarted.rejections == ["replayed-token": 1])
        #expect(try restarted.authorize(Self.request(Self.token(id: 42, expires: clock + 900, key: key))) == nil)
        #expect(restarted.authorized == 1 && restarted.rememberedTokenCount == 2)
        #expect(try Self.text(path).split(separator: "\n").count == 2)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    /// Opening drops the ids of expired tokens (after the leeway) and rewrites the file with the rest.
    @Test func expiredIdsAreDroppedAtOpening() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = Self.journalPath(directory)
        let key = try AuthorityKeyPair.generate()
        let shortLived = try Self.token(id: 1, expires: Self.start + 100, key: key)
        let longLived = try Self.token(id: 2, expires: Self.start + 10_000, key: key)
        do {
            let (verifier, _) = try Self.verifier(path, key: key, clock: Self.start)
            #expect(verifier.authorize(Self.request(shortLived)) == nil)
            #expect(verifier.authorize(Self.request(longLived)) == nil)
        }
        // Within the leeway the short-lived id is still kept.
        do {
            let (_, journal) = try Self.verifier(path, key: key, clock: Self.start + 105)
            #expect(journal.lineCount == 2 && journal.expiredAtOpening == 0)
        }
        let (verifier, journal) = try Self.verifier(path, key: key, clock: Self.start + 111)
        #expect(journal.lineCount == 1 && journal.expiredAtOpening == 1)
        #expect(verifier.rememberedTokenCount == 1)
        #expect(try Self.text(path) == "0000000000000002 \(Self.start + 10_000)\n")
        #expect(verifier.authorize(Self.request(longLived)) == "invalid-mining-job-token")
        #expect(verifier.authorize(Self.request(shortLived)) == "invalid-mining-job-token")
        #expect(verifier.rejections == ["replayed-token": 1, "expired-token": 1])
    }

    /// A crash mid-write leaves a torn last line: skipped with a warning, the rest kept, the file rewritten whole
    /// (the next append does not land on the torn bytes).
    @Test func tornLastLineIsSkippedWithAWarning() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = Self.journalPath(directory)
        let key = try AuthorityKeyPair.generate()
        let whole = "0000000000000007 \(Self.start + 600)\n"
        for torn in ["00000000000000", "0000000000000008 18000", "\0\0\0\0\0\0\0\0", "0000000000000008 x\n"] {
            try (whole + torn).write(toFile: path, atomically: false, encoding: .utf8)
            let log = JournalLog()
            let (verifier, journal) = try Self.verifier(path, key: key, clock: Self.start, logger: log.logger)
            #expect(journal.skippedLines == 1 && journal.lineCount == 1, "\(torn.debugDescription)")
            #expect(log.warnings.count == 1 && log.warnings.first?.contains("last line 2") == true, "\(log.warnings)")
            #expect(try Self.text(path) == whole)
            #expect(try verifier.authorize(Self.request(Self.token(id: 7, expires: Self.start + 600, key: key)))
                == "invalid-mining-job-token")
            #expect(try verifier.authorize(Self.request(Self.token(id: 8, expires: Self.start + 600, key: key))) == nil)
            #expect(try Self.text(path) == whole + "0000000000000008 \(Self.start + 600)\n")
        }
    }

    /// Damage before the last line is no crash: a typed error naming the line, the file left as it was.
    @Test func garbageBeforeTheLastLineStopsTheStart() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = Self.journalPath(directory)
        let content = "0000000000000007 \(Self.start + 600)\nnot a token id\n0000000000000009 \(Self.start + 600)\n"
        try content.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: UsedTokenJournalError.corruptLine(path: path, line: 2, text: "not a token id")) {
            _ = try UsedTokenJournal(path: path, now: Self.start)
        }
        // A torn tail after a damaged last whole line: the damage is not the crash's.
        try "0000000000000007 1\nbad\n00000".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: UsedTokenJournalError.corruptLine(path: path, line: 2, text: "bad")) {
            _ = try UsedTokenJournal(path: path, now: Self.start)
        }
        // Larger than any journal of its bound: refused unread.
        try String(repeating: "0000000000000007 1\n", count: 200).write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: UsedTokenJournalError.self) { _ = try UsedTokenJournal(path: path, now: 0, maximumEntries: 4) }
        // No directory to write in: a typed system error.
        #expect(throws: UsedTokenJournalError.system(call: "open", path: path + "/x", errno: ENOTDIR)) {
            _ = try UsedTokenJournal(path: path + "/x", now: Self.start)
        }
    }

    /// A record that fails refuses the job (typed, counted, logged); nothing is accepted or remembered, and the
    /// token is taken once the journal works again.
    @Test func failedRecordRefusesTheJob() throws {
        let key = try AuthorityKeyPair.generate()
        let journal = FailingTokenJournal()
        let log = JournalLog()
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Self.poolScript)], journal: journal,
            logger: log.logger)
        verifier.now = { Self.start }
        let token = try Self.token(id: 5, expires: Self.start + 600, key: key)
        journal.failing = true
        #expect(verifier.authorize(Self.request(token)) == "internal-error")
        #expect(verifier.authorized == 0 && verifier.rememberedTokenCount == 0)
        #expect(verifier.rejections == ["used-token-journal-failed": 1])
        #expect(journal.recorded.isEmpty)
        #expect(log.errors.count == 1 && log.errors.first?.contains("No space left on device") == true, "\(log.errors)")
        journal.failing = false
        #expect(verifier.authorize(Self.request(token)) == nil)
        #expect(journal.recorded == [5])
        #expect(verifier.authorize(Self.request(token)) == "invalid-mining-job-token")
        // A failing compaction refuses the job too.
        journal.compactionDue = true
        journal.failing = true
        #expect(try verifier.authorize(Self.request(Self.token(id: 6, expires: Self.start + 600, key: key))) == "internal-error")
        #expect(verifier.rejections == ["used-token-journal-failed": 2, "replayed-token": 1])
        #expect(journal.recorded == [5] && verifier.authorized == 1)
    }

    /// The file stays bounded: at twice the verifier's bound it is compacted down to the live ids.
    @Test func journalIsCompactedAtTwiceTheBound() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = Self.journalPath(directory)
        let key = try AuthorityKeyPair.generate()
        var clock = Self.start
        let journal = try UsedTokenJournal(path: path, now: clock, maximumEntries: 2)
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Self.poolScript)], journal: journal)
        verifier.maximumRememberedTokens = 2
        verifier.now = { clock }
        var maximumLines = 0
        for id in UInt64(1)...12 {
            #expect(try verifier.authorize(Self.request(Self.token(id: id, expires: clock + 5, key: key))) == nil)
            maximumLines = max(maximumLines, journal.lineCount)
            #expect(try Self.text(path).split(separator: "\n").count == journal.lineCount)
            clock += 20  // the token just used expires
        }
        #expect(maximumLines == 4 && verifier.authorized == 12)
        // The latest id survives every compaction.
        #expect(try Self.text(path).contains("000000000000000c \(clock - 15)\n"))
    }
}

/// A journal whose writes fail on demand (a full disk).
final class FailingTokenJournal: UsedTokenJournaling {
    var failing = false
    var compactionDue = false
    var recorded: [UInt64] = []

    func takeRemembered() -> [UInt64: UInt32] { [:] }
    var needsCompaction: Bool { compactionDue }

    func append(id: UInt64, expires: UInt32) throws(UsedTokenJournalError) {
        if failing { throw .system(call: "write", path: "full-disk", errno: ENOSPC) }
        recorded.append(id)
    }

    func compact(keeping live: [UInt64: UInt32]) throws(UsedTokenJournalError) {
        if failing { throw .system(call: "fsync", path: "full-disk", errno: EIO) }
        compactionDue = false
    }
}

/// Records warnings and errors logged through its logger.
final class JournalLog: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])

    var warnings: [String] { lines.withLock { $0.filter { $0.0 == .warning }.map(\.1) } }
    var errors: [String] { lines.withLock { $0.filter { $0.0 == .error }.map(\.1) } }

    var logger: Logger { Logger(label: "test.job-tokens") { _ in Handler(sink: self) } }

    fileprivate func append(_ level: Logger.Level, _ message: String) { lines.withLock { $0.append((level, message)) } }

    struct Handler: LogHandler {
        let sink: JournalLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { sink.append(event.level, event.message.description) }
    }
}
