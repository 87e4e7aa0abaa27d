import ArgumentParser
import Foundation
import Sv2Bitcoin
import Sv2Mining

/// `sv2 blocks settle`: an operator's verdict on an unsettled block, journaled, so the apps stop reporting it at
/// start-up. For blocks no tool here can settle: a pool's block without its block data (its template provider never
/// sent the block's transactions, so `sv2 blocks submit` cannot rebuild it) whose fate the operator checked by hand
/// (an explorer, `bitcoin-cli getblockheader HASH`).
struct BlocksSettleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle",
        abstract: "Journal your verdict on an unsettled block (acknowledged, superseded or failed), with a reason.",
        discussion: """
            Appends one line to the journal: the block's hash, the state you give, and "settled by hand: REASON". \
            The block must be in the journal and unsettled (a settled block is refused: its line stays the record). \
            Check the block first: `bitcoin-cli getblockheader HASH` (confirmations ≥ 1 means acknowledged, -1 means \
            it lost to another block: superseded; not found: it never reached the network, failed).

            Example:
              sv2 blocks settle 00000000000000000001a2b3… --as superseded --reason "orphaned at height 871234"
            """)

    @OptionGroup var location: BlocksCommand.JournalLocation

    @Argument(help: "The block hash (explorer order, 64 hex digits), as `sv2 blocks list` prints it.")
    var hash: String

    @Option(name: .customLong("as"), help: "The verdict: acknowledged, superseded or failed.")
    var verdict: String

    @Option(name: .long, help: "Why (journaled with the verdict; required, so the journal says who decided and why).")
    var reason: String

    /// The journal, block and verdict, checked.
    struct Settings: Equatable {
        var journal: String
        var hash: Hash256
        var event: BlockJournalEntry.Event
        var reason: String
    }

    /// The events an operator may journal: the three settled states.
    static let verdicts: [BlockJournalEntry.Event] = [.acknowledged, .superseded, .failed]

    func settings(environment: [String: String]? = nil) throws -> Settings {
        guard hash.count == 64, let parsed = Hash256(displayHex: hash) else {
            throw ValidationError("\(hash.debugDescription) is not a block hash (64 hex digits, as `sv2 blocks list` prints it)")
        }
        guard let event = BlockJournalEntry.Event(rawValue: verdict), Self.verdicts.contains(event) else {
            throw ValidationError("--as must be one of: \(Self.verdicts.map(\.rawValue).joined(separator: ", "))")
        }
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 1_000 else {
            throw ValidationError("--reason must say why, in at most 1,000 bytes")
        }
        return Settings(
            journal: environment.map { location.path(environment: $0) } ?? location.path(), hash: parsed, event: event,
            reason: trimmed)
    }

    /// The entry to journal for `settings` after checking the journal: nil and a message when refused.
    static func entry(_ settings: Settings, reader: BlockJournalReader, now: UInt64) -> Result<BlockJournalEntry, ValidationError> {
        guard let record = reader.record(settings.hash) else {
            return .failure(ValidationError("block \(settings.hash.displayHex) is not in \(reader.path)"))
        }
        guard !record.isSettled else {
            return .failure(ValidationError(
                "block \(settings.hash.displayHex) is already settled (\(record.state.rawValue)); nothing journaled"))
        }
        return .success(BlockJournalEntry(
            event: settings.event, hash: settings.hash, time: now, reason: "settled by hand: \(settings.reason)"))
    }

    func run() throws {
        let settings = try settings()
        let reader = try BlocksCommand.read(settings.journal, given: location.isGiven)
        let entry = try Self.entry(settings, reader: reader, now: UInt64(Date().timeIntervalSince1970)).get()
        do {
            let journal = try BlockJournal(file: reader.path)
            try journal.append(entry)
        } catch {
            throw ValidationError("cannot journal the verdict in \(reader.path): \(error)")
        }
        print("block \(settings.hash.displayHex) journaled \(settings.event.rawValue) in \(reader.path): \(entry.reason ?? "")")
    }
}
