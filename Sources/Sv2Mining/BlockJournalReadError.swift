import Glibc

/// Why the block journal, or one of its lines, could not be read (``BlockJournalReader``).
///
/// A bad line is reported with its number (1-based) and the field that was being read when it went wrong, so a
/// line cut short by a crash mid-write (`field` is the key whose value was cut) can be told apart from a line that
/// someone edited by hand. A bad line never stops the lines around it from being read.
public enum BlockJournalReadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call failed on the journal: which one, the path, and `errno`.
    case system(call: String, path: String, errno: Int32)
    /// The file is larger than ``BlockJournalReader/maximumFileSize``: not read at all (it is not a journal this
    /// code wrote, or it must be split by hand).
    case fileTooLarge(path: String, size: UInt64, limit: UInt64)
    /// A line is longer than ``BlockJournalReader/maximumLineLength``: skipped up to its end.
    case lineTooLong(line: Int, limit: Int)
    /// A line is not a journal entry. `field` names the key being read (`"(line)"` before the first key,
    /// `"(end)"` after the last one); `problem` says what was wrong. A last line without its newline that fails
    /// to parse is reported as ``truncated(line:field:)`` instead.
    case malformed(line: Int, field: String, problem: String)
    /// The last line ends before its closing brace and without a newline: a write cut short by a crash.
    case truncated(line: Int, field: String)

    /// The line number the error names, if it is about one line.
    public var line: Int? {
        switch self {
        case .system, .fileTooLarge: nil
        case .lineTooLong(let line, _), .malformed(let line, _, _), .truncated(let line, _): line
        }
    }

    public var description: String {
        switch self {
        case .system(let call, let path, let code):
            "block journal \(path): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .fileTooLarge(let path, let size, let limit):
            "block journal \(path): \(size) bytes, more than the \(limit) bytes this reader takes"
        case .lineTooLong(let line, let limit):
            "block journal line \(line): longer than \(limit) bytes (skipped)"
        case .malformed(let line, let field, let problem):
            "block journal line \(line), field \(field): \(problem)"
        case .truncated(let line, let field):
            "block journal line \(line), field \(field): cut short (a write interrupted by a crash?)"
        }
    }
}
