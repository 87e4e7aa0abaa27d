import ArgumentParser
import Foundation
import Sv2AppSupport
import Sv2Mining

/// `sv2 blocks`: the found-block journal of a pool or JD server (`blocks.jsonl`) read back: list the blocks and
/// their states, and submit to Bitcoin Core the ones an earlier run found but never saw settled.
struct BlocksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocks",
        abstract: "List found blocks from a block journal, and submit the unsettled ones to Bitcoin Core.",
        discussion: """
            `sv2 pool` and `sv2 jd-server` journal every found block (DATA_DIR/blocks/blocks.jsonl, or \
            --block-journal DIR): found, submitted, then acknowledged, superseded or failed. A block with no \
            acknowledged, superseded or failed line after its found line is unsettled: the process stopped before \
            the network's verdict. The apps log every unsettled block of an earlier run at start-up; these commands \
            settle them (`submit` when the journal holds the whole block, `settle` to journal a verdict you checked). See Docs/Apps.md ("sv2 blocks").

            Examples:
              sv2 blocks list --journal /var/lib/sv2/blocks --unsettled
              sv2 blocks submit --journal /var/lib/sv2/blocks --rpc 127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie
              sv2 blocks settle HASH --journal /var/lib/sv2/blocks --as superseded --reason "orphaned at 871234"
            """,
        subcommands: [BlocksListCommand.self, BlocksSubmitCommand.self, BlocksSettleCommand.self])

    /// Where the journal is: `--journal DIR|FILE`, else the data directory's `blocks` (as `sv2 pool` writes it).
    struct JournalLocation: ParsableArguments {
        @Option(name: .long, help: "The block journal: the directory sv2 pool --block-journal names (its blocks.jsonl), or the file itself (default DATA_DIR/blocks). A journal that is not there is an error, never an empty list.")
        var journal: String?

        @Option(name: .long, help: "The pool's data directory, for the default journal (default: $XDG_DATA_HOME/sv2, else $HOME/.local/share/sv2, else ./sv2-data).")
        var dataDir: String?

        /// Whether `--journal` was given (else the data directory's default is read).
        var isGiven: Bool { journal != nil }

        /// The path given, or the default journal directory.
        func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
            if let journal { return journal }
            let directory = dataDir ?? DataDirectory.defaultPath(environment: environment)
            return directory.hasSuffix("/") ? directory + "blocks" : directory + "/blocks"
        }
    }

    /// Reads the journal at `path`, printing every unreadable line to standard error (they may be blocks: a line
    /// cut short by a crash is named there with its line number). A journal that is not there is refused, never
    /// read as one without blocks: an operator looking for a lost block must not take a mistyped `--journal` (`given`)
    /// or a pool writing elsewhere than the default for "no blocks".
    static func read(_ path: String, given: Bool) throws -> BlockJournalReader {
        let reader: BlockJournalReader
        do { reader = try BlockJournalReader(path: path) } catch { throw ValidationError("\(error)") }
        guard reader.fileExists else { throw missing(reader.path, given: given) }
        for problem in reader.problems { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
        return reader
    }

    /// The refusal of a journal that is not at `path` (as resolved: a directory's `blocks.jsonl`).
    static func missing(_ path: String, given: Bool) -> ValidationError {
        if given {
            return ValidationError("""
                no block journal at \(path): no such file (--journal takes the directory given to sv2 pool \
                --block-journal, or the blocks.jsonl in it)
                """)
        }
        return ValidationError("""
            no block journal at \(path) yet (the default, DATA_DIR/blocks): a pool or JD server creates it when it \
            starts with this data directory; if yours writes elsewhere, give --journal DIR (its --block-journal) or \
            --data-dir DIR
            """)
    }

    /// A Unix time as ISO 8601 (UTC).
    static func timestamp(_ seconds: UInt64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }

    /// One line of text about `record`: hash, height, found time, state, reason.
    static func describe(_ record: BlockJournalRecord) -> String {
        var line = record.hash.displayHex
        line += "  height " + (record.height.map { String($0) } ?? "?")
        line += "  found " + (record.foundTime.map(timestamp) ?? "? (no found line)")
        line += "  " + record.state.rawValue + (record.isSettled ? "" : " (unsettled)")
        line += " at " + timestamp(record.time)
        if let user = record.userIdentity { line += "  user " + user.debugDescription }
        if !record.isSettled { line += record.blockData == nil ? "  no block data" : "  block data" }
        if let reason = record.reason { line += "  reason: " + reason.debugDescription }
        return line
    }

    /// `record` as one JSON object (hashes in explorer order; `null` for what the journal does not say).
    static func json(_ record: BlockJournalRecord) -> String {
        func quoted(_ text: String?) -> String { text.map(JSONStringLiteral.quoted) ?? "null" }
        let fields: [(String, String)] = [
            ("hash", quoted(record.hash.displayHex)),
            ("height", record.height.map { String($0) } ?? "null"),
            ("found_time", record.foundTime.map { String($0) } ?? "null"),
            ("state", quoted(record.state.rawValue)),
            ("time", String(record.time)),
            ("settled", record.isSettled ? "true" : "false"),
            ("reason", quoted(record.reason)),
            ("user", quoted(record.userIdentity)),
            ("prev_hash", quoted(record.block?.header.prevHash.displayHex)),
            ("has_block_data", record.blockData == nil ? "false" : "true"),
            ("found_line", record.foundLine.map { String($0) } ?? "null"),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}
