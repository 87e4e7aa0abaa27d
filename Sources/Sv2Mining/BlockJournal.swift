import Glibc
import Synchronization
import Sv2Codec
public import Sv2Bitcoin

/// Where the pool (`Pool`) records found blocks before it acts on them (see ``BlockJournal``; tests inject failures).
public protocol BlockJournaling: AnyObject {
    /// Appends `entry` durably; returns only once it is on stable storage.
    func append(_ entry: BlockJournalEntry) throws(BlockJournalError)
}

/// Why the block journal could not be opened or written.
public enum BlockJournalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call failed: which one, on what path, and `errno`.
    case system(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .system(let call, let path, let code):
            "block journal \(path): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// One line of the block journal.
public struct BlockJournalEntry: Sendable, Hashable {
    /// What happened to the block.
    public enum Event: String, Sendable, Hashable, CaseIterable {
        /// A share met the network target; the entry carries everything needed to rebuild the block.
        case found
        /// `SubmitSolution` was handed to the template source's connection.
        case submitted
        /// The template source moved its chain tip onto this block, Bitcoin Core accepted it (`submitblock`
        /// answered success), or the node showed it on its best chain (`getblockheader`, confirmations ≥ 1; asked
        /// for a block without its data, or after an answer that does not say so): the network (or the node) took
        /// it.
        case acknowledged
        /// The chain tip moved onto another block before this one was taken (an orphan, or never submitted).
        case superseded
        /// The block could not be submitted at all (e.g. its template was gone); the entry says why.
        case failed
    }

    /// The event.
    public var event: Event
    /// The block hash.
    public var hash: Hash256
    /// Unix time of the event (seconds).
    public var time: UInt64
    /// For ``Event/found``: the block's record.
    public var block: FoundBlock?
    /// For ``Event/found``: the block height (BIP34, from the template's coinbase prefix) when it could be read.
    public var height: UInt32?
    /// For ``Event/failed`` (and informative elsewhere): why.
    public var reason: String?
    /// For ``Event/found``: the whole serialized block, ready for `submitblock` (by hand or `sv2 blocks submit`).
    /// A Job Declaration server's `found` line carries it; a pool journals it on a second `found` line once its
    /// template provider sent the block's other transactions (see ``BlockJournalRecord/apply(_:line:)``).
    public var blockData: [UInt8]?

    /// Creates an entry.
    public init(
        event: Event, hash: Hash256, time: UInt64, block: FoundBlock? = nil, height: UInt32? = nil,
        reason: String? = nil, blockData: [UInt8]? = nil
    ) {
        self.event = event
        self.hash = hash
        self.time = time
        self.block = block
        self.height = height
        self.reason = reason
        self.blockData = blockData
    }

    /// The entry as one line of JSON (no trailing newline). Hashes are in display (explorer) order; the header and
    /// coinbase are hex of their serialisation, ready for `submitblock` together with the template's transactions.
    public var jsonLine: String {
        var fields: [(String, String)] = [
            ("time", String(time)), ("event", Self.quoted(event.rawValue)), ("hash", Self.quoted(hash.displayHex)),
        ]
        if let block {
            fields.append(("prev_hash", Self.quoted(block.header.prevHash.displayHex)))
            if let height { fields.append(("height", String(height))) }
            fields.append(("template_id", String(block.templateID)))
            fields.append(("channel_id", String(block.channelID)))
            fields.append(("user", Self.quoted(block.userIdentity)))
            fields.append(("header", Self.quoted(Sv2Hex.encode(block.header.bytes))))
            fields.append(("coinbase", Self.quoted(Sv2Hex.encode(block.coinbaseTransaction))))
        }
        if let reason { fields.append(("reason", Self.quoted(reason))) }
        if let blockData { fields.append(("block", Self.quoted(Sv2Hex.encode(blockData)))) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A JSON string literal (see ``JSONStringLiteral``).
    static func quoted(_ text: String) -> String { JSONStringLiteral.quoted(text) }
}

/// The pool's append-only block journal: `blocks.jsonl` in a directory, one JSON object per line, each line
/// written with one `write` and made durable with `fsync` before ``append(_:)`` returns.
///
/// The pool journals a found block **before** it submits it, and every change of its state after (see
/// ``BlockJournalEntry/Event``), so a block survives a crash, a template source that is down, or a failed
/// submission: the `found` line holds the header, the full coinbase with its witness, the template id, the previous
/// block hash, the height, the channel and the user — enough to rebuild and broadcast the block by hand.
///
/// Blocks are rare, so the `fsync` runs on the pool's loop thread: delaying other work by a disk flush is the
/// right price for a block.
///
/// One journal may be shared by the pools of several event loops (a multi-core pool): ``append(_:)`` holds a lock
/// around its write and `fsync`, so lines from different threads never interleave and each is durable on return.
public final class BlockJournal: BlockJournaling, @unchecked Sendable {
    /// The journal file.
    public let path: String
    private let descriptor: Int32
    /// Serialises appends from several threads (one line, then its fsync, at a time).
    private let writing = Mutex(())

    /// Opens (creating if needed) `blocks.jsonl` in `directory`, creating the directory and its missing parents
    /// (mode 0700) first.
    public convenience init(directory: String) throws(BlockJournalError) {
        try Self.makeDirectories(directory)
        try self.init(file: directory.hasSuffix("/") ? directory + "blocks.jsonl" : directory + "/blocks.jsonl")
    }

    /// Opens (creating if needed) the journal file `path` itself, in an existing directory (`sv2 blocks submit
    /// --journal FILE` appends its outcomes to the file it read, whatever its name).
    public init(file path: String) throws(BlockJournalError) {
        self.path = path
        let created = access(path, F_OK) != 0
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw .system(call: "open", path: path, errno: errno) }
        // A new file's directory entry must be durable too, or a crash can lose the whole journal.
        if created { DurableFile.syncDirectory(of: path) }
    }

    deinit { close(descriptor) }

    private static func makeDirectories(_ path: String) throws(BlockJournalError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0, errno != EEXIST {
                throw .system(call: "mkdir", path: prefix, errno: errno)
            }
            prefix += "/"
        }
    }

    /// Appends `entry` as one line and flushes it to stable storage. Any thread.
    public func append(_ entry: BlockJournalEntry) throws(BlockJournalError) {
        let line = Array((entry.jsonLine + "\n").utf8)
        try writing.withLock { (_) throws(BlockJournalError) in try writeLine(line) }
    }

    private func writeLine(_ bytes: [UInt8]) throws(BlockJournalError) {
        do throws(DurableFile.Failure) {
            try DurableFile.writeAll(bytes, to: descriptor)
            try DurableFile.sync(descriptor)
        } catch {
            throw .system(call: error.call, path: path, errno: error.errno)
        }
    }
}
