import Glibc
public import Sv2Bitcoin

/// Reads a block journal (`blocks.jsonl`, written by ``BlockJournal``) back after a restart: line by line, every
/// line about a block hash folded into one ``BlockJournalRecord`` holding its latest state, so the blocks that were
/// found but never settled (no `acknowledged`, `superseded` or `failed` after their `found` line) can be listed and
/// submitted again instead of being forgotten.
///
/// Bounds (nothing in the file is trusted):
/// - the file is at most ``maximumFileSize`` bytes (1 GiB), or it is refused before anything is read;
/// - a line is at most ``maximumLineLength`` bytes (12 MiB: a `found` line carries a whole serialized block as
///   hex, at most 4,000,000 bytes, so 8,000,000 hex digits, plus its header, coinbase and the rest); a longer line
///   is skipped up to its newline and reported;
/// - the file is read in chunks, so memory holds one line plus the records (the bytes of blocks still unsettled or
///   failed included, at most half the file).
///
/// A malformed line (garbage, a hand edit, a last line cut short by a crash mid-write) is reported as a
/// ``BlockJournalReadError`` naming its line and field, and reading goes on: the good lines before and after it
/// still count.
public struct BlockJournalReader: Sendable {
    /// Largest file read (bytes).
    public static let maximumFileSize: UInt64 = 1 << 30
    /// Longest line read (bytes, without the newline).
    public static let maximumLineLength = 12 << 20

    /// The file read.
    public let path: String
    /// Every block the journal names, in the order of their first line.
    public private(set) var records: [BlockJournalRecord] = []
    /// Lines that could not be read (in file order).
    public private(set) var problems: [BlockJournalReadError] = []
    /// Lines read (good or not).
    public private(set) var lineCount = 0
    /// Whether the file was there: `false` when ``init(path:)`` found no file at ``path`` and read it as an empty
    /// journal. The apps at start-up take that as "nothing was ever found"; `sv2 blocks` refuses it, so a mistyped
    /// `--journal` is not mistaken for a journal without blocks.
    public private(set) var fileExists = true
    private var positions: [Hash256: Int] = [:]
    private let lineLimit: Int

    /// The journal at `path`: `blocks.jsonl` inside it when it is a directory (the pool's `--block-journal`), else
    /// the file itself. A journal that does not exist yet is empty (nothing was ever found), with ``fileExists``
    /// `false`. Throws only when the file cannot be read at all.
    public init(path: String) throws(BlockJournalReadError) {
        try self.init(path: path, maximumLineLength: Self.maximumLineLength)
    }

    /// As ``init(path:)`` with a smaller line bound (tests).
    init(path: String, maximumLineLength: Int) throws(BlockJournalReadError) {
        lineLimit = maximumLineLength
        var info = stat()
        var file = path
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            file = path.hasSuffix("/") ? path + "blocks.jsonl" : path + "/blocks.jsonl"
        }
        self.path = file
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT {
                fileExists = false
                return
            }
            throw .system(call: "open", path: file, errno: errno)
        }
        defer { close(descriptor) }
        guard fstat(descriptor, &info) == 0 else { throw .system(call: "fstat", path: file, errno: errno) }
        let size = UInt64(clamping: info.st_size)
        guard size <= Self.maximumFileSize else {
            throw .fileTooLarge(path: file, size: size, limit: Self.maximumFileSize)
        }
        try read(descriptor)
    }

    /// Reads `bytes` as the whole journal (tests, and journals held in memory).
    public init(bytes: [UInt8], path: String = "(memory)", maximumLineLength: Int = Self.maximumLineLength) {
        self.path = path
        lineLimit = maximumLineLength
        var lines = LineSplitting()
        feed(bytes[...], &lines)
        finish(&lines)
    }

    /// Blocks found but not settled, oldest first.
    public var unsettled: [BlockJournalRecord] { records.filter { !$0.isSettled } }

    /// Blocks whose latest line is `failed` and whose `found` line carried the whole block, oldest first: settled,
    /// but a JD server's `failed` may only mean its node was unreachable (`sv2 blocks submit --retry-failed`).
    public var failedWithBlockData: [BlockJournalRecord] {
        records.filter { $0.state == .failed && $0.blockData != nil }
    }

    /// The record of `hash`, if the journal names it.
    public func record(_ hash: Hash256) -> BlockJournalRecord? { positions[hash].map { records[$0] } }

    private mutating func read(_ descriptor: Int32) throws(BlockJournalReadError) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var lines = LineSplitting()
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(call: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            feed(chunk[0..<count], &lines)
        }
        finish(&lines)
    }

    /// Where splitting stands between chunks: the line gathered so far, lines seen, and whether the current line
    /// is being skipped (it grew past the line bound).
    private struct LineSplitting {
        var line: [UInt8] = []
        var number = 0
        var skipping = false
    }

    /// Splits `chunk` into lines (one may continue from the previous chunk), consuming each complete one; a line
    /// longer than the bound is counted as a problem and skipped up to its newline.
    private mutating func feed(_ chunk: ArraySlice<UInt8>, _ lines: inout LineSplitting) {
        var start = chunk.startIndex
        while start < chunk.endIndex {
            let newline = chunk[start...].firstIndex(of: 0x0a)
            let end = newline ?? chunk.endIndex
            if !lines.skipping {
                if lines.line.count + (end - start) > lineLimit {
                    // Too long: drop what was gathered and skip to the newline.
                    lines.number += 1
                    problems.append(.lineTooLong(line: lines.number, limit: lineLimit))
                    lines.line.removeAll(keepingCapacity: false)
                    lines.skipping = true
                } else {
                    lines.line.append(contentsOf: chunk[start..<end])
                }
            }
            guard newline != nil else { break }
            if lines.skipping {
                lines.skipping = false
            } else {
                lines.number += 1
                consume(lines.line[...], line: lines.number, complete: true)
                lines.line.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
    }

    /// The end of the journal: a last line without its newline is consumed as cut short.
    private mutating func finish(_ lines: inout LineSplitting) {
        if !lines.skipping, !lines.line.isEmpty {
            lines.number += 1
            consume(lines.line[...], line: lines.number, complete: false)
        }
        lineCount = lines.number
    }

    private mutating func consume(_ bytes: ArraySlice<UInt8>, line: Int, complete: Bool) {
        // Blank lines (an editor's trailing newline) carry nothing.
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }) { return }
        let entry: BlockJournalEntry
        do throws(BlockJournalReadError) { entry = try BlockJournalEntry(jsonLine: bytes, lineNumber: line, complete: complete) } catch {
            problems.append(error)
            return
        }
        if let position = positions[entry.hash] {
            records[position].apply(entry, line: line)
        } else {
            positions[entry.hash] = records.count
            records.append(BlockJournalRecord(entry, line: line))
        }
    }
}
