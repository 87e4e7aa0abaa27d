import Glibc
public import Logging
import Sv2Mining

/// Where a ``MiningJobTokenVerifier`` records spent token ids before it lets the job they authorise through (see
/// ``UsedTokenJournal``; tests inject failures).
public protocol UsedTokenJournaling: AnyObject {
    /// The ids recorded and not yet expired when the journal was opened, with their expiry (unix seconds): what a
    /// restarted verifier must go on refusing. Handed over once; later calls get an empty map.
    func takeRemembered() -> [UInt64: UInt32]
    /// Whether the file holds so many lines (ids since expired among them) that the verifier should
    /// ``compact(keeping:)`` it before the next ``append(id:expires:)``.
    var needsCompaction: Bool { get }
    /// Records durably that the token `id`, valid until `expires`, is spent; returns only once it is on stable
    /// storage.
    func append(id: UInt64, expires: UInt32) throws(UsedTokenJournalError)
    /// Replaces the file's content by `live` (the ids not expired yet) durably; on failure the previous file stays.
    func compact(keeping live: [UInt64: UInt32]) throws(UsedTokenJournalError)
}

/// Why the used-token journal could not be opened, read or written.
public enum UsedTokenJournalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call failed: which one, on what path, and `errno`.
    case system(call: String, path: String, errno: Int32)
    /// A line before the last one is not `<16 hex digits> <expiry>`: not a crash mid-write (that can only cut the
    /// last line) but damage or another file; the pool does not start on it rather than forget spent ids.
    case corruptLine(path: String, line: Int, text: String)
    /// The file is larger than a journal of this bound can be (another file, or a bound lowered since).
    case tooLarge(path: String, bytes: Int, limit: Int)

    public var description: String {
        switch self {
        case .system(let call, let path, let code):
            "used-token journal \(path): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .corruptLine(let path, let line, let text):
            "used-token journal \(path): line \(line) is not \"<id: 16 hex digits> <expiry: unix seconds>\": \(text)"
        case .tooLarge(let path, let bytes, let limit):
            "used-token journal \(path): \(bytes) bytes, more than the \(limit) a journal of this bound can hold"
        }
    }
}

/// The durable half of ``MiningJobTokenVerifier``'s single-use check: the ids of spent mining job tokens, so that a
/// restarted pool refuses a token used before it stopped (``JobDeclarationError/replayedToken``) for the rest of
/// that token's lifetime.
///
/// One line per spent token, `<id: 16 lowercase hex digits> <expiry: unix seconds>\n`, written with one `write` and
/// made durable with `fsync` before ``append(id:expires:)`` returns: the verifier records the id **before** the job
/// it authorises is accepted, and refuses the job when the record fails.
///
/// Opening reads the file, keeps the ids whose tokens have not expired (the verifier's leeway included), and
/// rewrites the file with them alone (a temporary file, `fsync`, `rename`, `fsync` of the directory: a crash leaves
/// the old file or the new one). A last line that is cut short or unreadable is what a crash mid-write leaves: it is
/// skipped with a logged warning (its `append` never returned, so its job was never accepted). Any other unreadable
/// line is ``UsedTokenJournalError/corruptLine(path:line:text:)``: the pool does not start rather than forget ids.
///
/// Bounded: the verifier holds at most ``maximumEntries`` live ids (then refuses new tokens,
/// ``JobDeclarationError/replayMemoryFull``, rather than forget one), and asks for a compaction down to its live ids
/// once the file reaches twice that many lines (``needsCompaction``), so the file never exceeds
/// 2 × ``maximumEntries`` lines (about 15 MB at the default bound). Mode 0600. Loop thread only: every `fsync` runs
/// on the pool's loop, the price of a custom job that is never accepted unrecorded.
public final class UsedTokenJournal: UsedTokenJournaling {
    /// The journal file's name in the pool's data directory.
    public static let fileName = "used-mining-job-tokens"
    /// Longest line: 16 hex digits, a space, 10 decimal digits, a newline.
    static let maximumLineLength = 28

    /// The journal file.
    public let path: String
    /// Live ids the verifier holds at most (its ``MiningJobTokenVerifier/maximumRememberedTokens``).
    public let maximumEntries: Int
    /// Lines in the file now.
    public private(set) var lineCount: Int
    /// Lines skipped at opening (a last line cut short by a crash).
    public let skippedLines: Int
    /// Ids dropped at opening because their tokens had expired.
    public let expiredAtOpening: Int
    private var descriptor: Int32
    private var remembered: [UInt64: UInt32]

    /// Opens (creating if needed) the journal at `path`: loads it, drops the ids of tokens expired more than
    /// `leeway` seconds before `now`, and rewrites the file with the rest. The directory must exist.
    public init(
        path: String, now: UInt64, leeway: UInt32 = 10,
        maximumEntries: Int = MiningJobTokenVerifier.defaultMaximumRememberedTokens,
        logger: Logger = Logger(label: "stratum.pool.job-tokens")
    ) throws(UsedTokenJournalError) {
        self.path = path
        self.maximumEntries = maximumEntries
        let limit = (2 * maximumEntries + 1) * Self.maximumLineLength
        let bytes = try Self.read(path, limit: limit)
        var entries: [UInt64: UInt32] = [:]
        var skipped = 0
        var expired = 0
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // After the last newline: empty for a whole file, else a line a crash cut short.
        let cutShort = lines.popLast().map { !$0.isEmpty } ?? false
        if cutShort {
            skipped += 1
            logger.warning("\(path): skipping the unterminated last line \(lines.count + 1) (a write cut short by a crash)")
        }
        for (index, line) in lines.enumerated() {
            guard let (id, expires) = Self.parse(line) else {
                // A crash cuts one line at most: with an unterminated tail, this line was whole.
                if index == lines.count - 1, !cutShort {
                    skipped += 1
                    logger.warning("\(path): skipping the unreadable last line \(index + 1) (a write cut short by a crash)")
                    continue
                }
                throw .corruptLine(path: path, line: index + 1, text: Self.printable(line))
            }
            if UInt64(expires) + UInt64(leeway) >= now {
                entries[id] = max(entries[id] ?? 0, expires)
            } else {
                expired += 1
            }
        }
        skippedLines = skipped
        expiredAtOpening = expired
        remembered = entries
        lineCount = entries.count
        descriptor = try Self.rewrite(path, entries)
    }

    deinit { close(descriptor) }

    public func takeRemembered() -> [UInt64: UInt32] {
        defer { remembered = [:] }
        return remembered
    }

    public var needsCompaction: Bool { lineCount >= 2 * maximumEntries }

    public func append(id: UInt64, expires: UInt32) throws(UsedTokenJournalError) {
        try Self.write(Self.line(id: id, expires: expires), to: descriptor, path: path)
        try Self.sync(descriptor, path: path)
        lineCount += 1
    }

    public func compact(keeping live: [UInt64: UInt32]) throws(UsedTokenJournalError) {
        let replacement = try Self.rewrite(path, live)
        close(descriptor)
        descriptor = replacement
        lineCount = live.count
    }

    // MARK: File

    /// The file's bytes (none when it does not exist yet); at most `limit`.
    private static func read(_ path: String, limit: Int) throws(UsedTokenJournalError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return [] }
            throw .system(call: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(call: "read", path: path, errno: errno)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            // Never trust a length: a file larger than the bound is refused, not read whole.
            guard bytes.count <= limit else { throw .tooLarge(path: path, bytes: bytes.count, limit: limit) }
        }
    }

    /// Writes `entries` to a temporary file (mode 0600), makes it durable and renames it over `path`; returns its
    /// descriptor, open for appending.
    private static func rewrite(_ path: String, _ entries: [UInt64: UInt32]) throws(UsedTokenJournalError) -> Int32 {
        let temporary = path + ".tmp"
        // A leftover of a crash mid-compaction: never the journal itself (the rename had not happened).
        if unlink(temporary) != 0, errno != ENOENT { throw .system(call: "unlink", path: temporary, errno: errno) }
        let fd = open(temporary, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(call: "open", path: temporary, errno: errno) }
        do throws(UsedTokenJournalError) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(entries.count * maximumLineLength)
            for (id, expires) in entries.sorted(by: { $0.value < $1.value }) { bytes += line(id: id, expires: expires) }
            try write(bytes, to: fd, path: temporary)
            try sync(fd, path: temporary)
            guard rename(temporary, path) == 0 else { throw .system(call: "rename", path: path, errno: errno) }
        } catch {
            close(fd)
            _ = unlink(temporary)
            throw error
        }
        // The rename must be durable too, or a crash could bring the old file (and its torn line) back.
        DurableFile.syncDirectory(of: path)
        return fd
    }

    private static func write(_ bytes: [UInt8], to fd: Int32, path: String) throws(UsedTokenJournalError) {
        do throws(DurableFile.Failure) { try DurableFile.writeAll(bytes, to: fd) } catch {
            throw .system(call: error.call, path: path, errno: error.errno)
        }
    }

    private static func sync(_ fd: Int32, path: String) throws(UsedTokenJournalError) {
        do throws(DurableFile.Failure) { try DurableFile.sync(fd) } catch {
            throw .system(call: error.call, path: path, errno: error.errno)
        }
    }

    // MARK: Lines

    /// `<16 lowercase hex digits> <decimal expiry>\n`.
    static func line(id: UInt64, expires: UInt32) -> [UInt8] {
        let hex = String(id, radix: 16)
        return Array((String(repeating: "0", count: 16 - hex.count) + hex + " " + String(expires) + "\n").utf8)
    }

    /// The id and expiry of a line without its newline; `nil` unless it is exactly the format written.
    static func parse(_ line: ArraySlice<UInt8>) -> (UInt64, UInt32)? {
        guard line.count >= 18, line.count <= maximumLineLength - 1 else { return nil }
        let start = line.startIndex
        guard line[start + 16] == UInt8(ascii: " ") else { return nil }
        var id: UInt64 = 0
        for byte in line[start..<start + 16] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            id = id << 4 | UInt64(digit)
        }
        var expires: UInt64 = 0
        for byte in line[(start + 17)...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            expires = expires * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        guard expires <= UInt64(UInt32.max) else { return nil }
        return (id, UInt32(expires))
    }

    /// At most 40 bytes of a bad line, non-printable bytes escaped (for the error, never trusted).
    static func printable(_ line: ArraySlice<UInt8>) -> String {
        var text = ""
        for byte in line.prefix(40) {
            if (0x20...0x7e).contains(byte) { text.append(Character(Unicode.Scalar(byte))) } else {
                text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return line.count > 40 ? text + "…" : text
    }
}
