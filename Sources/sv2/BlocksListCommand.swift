import ArgumentParser
import Sv2Mining

/// `sv2 blocks list`: every block of a journal (or only the unsettled ones), as text or JSON.
struct BlocksListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print each block of the journal: hash, height, time found, state and its time, reason.",
        discussion: "Unreadable lines (e.g. the last one, cut short by a crash) are reported on standard error with their line number.")

    @OptionGroup var location: BlocksCommand.JournalLocation

    @Flag(name: .long, help: "Only blocks found but not settled (no acknowledged, superseded or failed line after their found line).")
    var unsettled = false

    @Flag(name: .long, help: "Print a JSON array of objects (hash, height, found_time, state, time, settled, reason, user, prev_hash, has_block_data, found_line).")
    var json = false

    /// What to print, resolved from the flags.
    struct Settings: Equatable {
        var journal: String
        var unsettledOnly: Bool
        var json: Bool
    }

    func settings(environment: [String: String]? = nil) -> Settings {
        Settings(
            journal: environment.map { location.path(environment: $0) } ?? location.path(),
            unsettledOnly: unsettled, json: json)
    }

    /// The lines printed for `reader` with `settings`.
    static func render(_ reader: BlockJournalReader, _ settings: Settings) -> [String] {
        let records = settings.unsettledOnly ? reader.unsettled : reader.records
        if settings.json {
            return ["[" + records.map(BlocksCommand.json).joined(separator: ",\n") + "]"]
        }
        let unsettledCount = reader.unsettled.count
        return records.map(BlocksCommand.describe) + [
            "\(records.count) blocks listed from \(reader.path): \(unsettledCount) unsettled"
                + (reader.problems.isEmpty ? "" : ", \(reader.problems.count) unreadable lines (see above)"),
        ]
    }

    func run() throws {
        let settings = settings()
        let reader = try BlocksCommand.read(settings.journal, given: location.isGiven)
        for line in Self.render(reader, settings) { print(line) }
    }
}
