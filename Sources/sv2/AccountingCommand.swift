import ArgumentParser
import Foundation
import Sv2Accounting
import Sv2AppSupport

/// `sv2 accounting`: reports from a pool's share ledger.
struct AccountingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounting",
        abstract: "Reports from a pool's share ledger (the SQLite file `sv2 pool --accounting` writes).",
        subcommands: [Summary.self, PPLNS.self])

    /// Where the ledger is.
    struct Source: ParsableArguments {
        @Option(name: .long, help: "The ledger: sqlite:PATH or a path (default sqlite:DATA_DIR/accounting.sqlite, as sv2 pool writes it), or postgres://… (every node's rows).")
        var accounting: String?

        @Option(name: .long, help: "The pool's data directory (default: $XDG_DATA_HOME/sv2, else $HOME/.local/share/sv2, else ./sv2-data).")
        var dataDir: String?

        func location() throws -> AccountingLocation {
            let directory = dataDir ?? DataDirectory.defaultPath(environment: ProcessInfo.processInfo.environment)
            let fallback = "sqlite:\(PoolCommand.defaultAccountingPath(in: directory))"
            do { return try AccountingLocation(parsing: accounting ?? fallback) }
            catch { throw ValidationError("--accounting: \(error)") }
        }

        func reader() throws -> LedgerReader {
            guard case .sqlite(let path) = try location() else {
                throw ValidationError("--accounting: this report reads a SQLite ledger (sqlite:PATH)")
            }
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no ledger at \(path)") }
            do { return try LedgerReader(path: path) } catch { throw ValidationError("cannot open \(path): \(error)") }
        }
    }

    /// `sv2 accounting summary`.
    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per user: accepted shares, difficulty, credit, rejected shares, blocks and their reward.",
            discussion: "--since takes Unix seconds, an ISO 8601 time (2026-11-30T12:00:00Z) or an age (90s, 15m, 24h, 7d).")

        @OptionGroup var source: Source

        @Option(name: .long, help: "Only windows closed since then (Unix seconds, ISO 8601, or an age like 24h).")
        var since: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() throws {
            let sinceMilliseconds = try since.map { try AccountingCommand.milliseconds(since: $0) }
            let totals: [LedgerReader.UserTotals]
            var rejections: [String: UInt64] = [:]
            if case .postgres(let url) = try source.location() {
                do { totals = try PostgresLedgerReader(url: url).summary(sinceMilliseconds: sinceMilliseconds) } catch {
                    throw ValidationError("PostgreSQL: \(error)")
                }
            } else {
                let reader = try source.reader()
                totals = try reader.summary(sinceMilliseconds: sinceMilliseconds)
                rejections = try reader.rejections(sinceMilliseconds: sinceMilliseconds)
            }
            if json {
                struct Output: Encodable {
                    var since: UInt64?
                    var users: [LedgerReader.UserTotals]
                    var rejections: [String: UInt64]
                }
                try AccountingCommand.printJSON(Output(since: sinceMilliseconds, users: totals, rejections: rejections))
                return
            }
            print("user".padding(toLength: 32, withPad: " ", startingAt: 0)
                + "  accepted      difficulty    rejected  blocks  reward (sat)")
            for user in totals {
                print(user.user.padding(toLength: 32, withPad: " ", startingAt: 0)
                    + "  " + String(user.accepted).leftPadded(8) + "  " + String(format: "%14.6g", user.difficulty)
                    + "  " + String(user.rejected).leftPadded(10) + "  " + String(user.blocks).leftPadded(6)
                    + "  " + String(user.reward).leftPadded(12))
            }
            if !rejections.isEmpty {
                print("rejected by reason: " + rejections.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                    .joined(separator: ", "))
            }
        }
    }

    /// `sv2 accounting pplns`.
    struct PPLNS: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pplns",
            abstract: "The payout split over the newest N difficulty of accepted shares (pay per last N shares).")

        @OptionGroup var source: Source

        @Option(name: .long, help: "N: the difficulty the split covers (e.g. 4 × the network difficulty).")
        var window: Double

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func validate() throws {
            guard window.isFinite, window > 0 else { throw ValidationError("--window must be a positive difficulty") }
        }

        func run() throws {
            let split: LedgerReader.PayoutSplit
            if case .postgres(let url) = try source.location() {
                do { split = try PostgresLedgerReader(url: url).pplns(window: window) } catch {
                    throw ValidationError("PostgreSQL: \(error)")
                }
            } else {
                split = try source.reader().pplns(window: window)
            }
            if json { return try AccountingCommand.printJSON(split) }
            print("PPLNS over \(split.covered) of \(split.window) difficulty")
            for share in split.shares {
                print(share.user.padding(toLength: 32, withPad: " ", startingAt: 0)
                    + "  " + String(format: "%14.6g", share.difficulty) + "  " + String(format: "%8.4f%%", share.fraction * 100))
            }
        }
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// `--since`: Unix seconds, ISO 8601, or an age (`90s`, `15m`, `24h`, `7d`) before now.
    static func milliseconds(since text: String, now: Date = Date()) throws -> UInt64 {
        if let seconds = Double(text), seconds >= 0 { return UInt64(seconds * 1000) }
        if let unit = text.last, let amount = Double(text.dropLast()), amount >= 0,
           let scale = ["s": 1.0, "m": 60, "h": 3600, "d": 86_400][unit] {
            return UInt64(Swift.max(0, now.timeIntervalSince1970 - amount * scale) * 1000)
        }
        if let date = ISO8601DateFormatter().date(from: text) {
            return UInt64(Swift.max(0, date.timeIntervalSince1970) * 1000)
        }
        throw ValidationError("--since \(text): expected Unix seconds, ISO 8601 or an age like 24h")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
