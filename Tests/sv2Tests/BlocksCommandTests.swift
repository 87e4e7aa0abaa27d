import ArgumentParser
import Foundation
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration
@testable import Sv2Mining
@testable import sv2

/// `sv2 blocks list` and `sv2 blocks submit` as parsed from flags (settings built before `run()`), and what `list`
/// prints for a journal (text and JSON).
@Suite("sv2 blocks settings and output")
struct BlocksCommandTests {
    /// A found line of a block with a real header (its hash is the one named), with or without its whole data.
    static func found(nonce: UInt32, withData: Bool, user: String = "alice") -> BlockJournalEntry {
        let header = BlockHeader(
            version: 0x2000_0000, prevHash: Hash256(bytes: [UInt8](repeating: 3, count: 32))!,
            merkleRoot: Hash256(bytes: [UInt8](repeating: 4, count: 32))!, ntime: 1_700_000_000, nbits: 0x207f_ffff,
            nonce: nonce)
        let coinbase: [UInt8] = [2, 0, 0, 0, 1, 0, 0, 0, 0]
        return BlockJournalEntry(
            event: .found, hash: header.hash, time: 1_764_547_200,
            block: FoundBlock(
                hash: header.hash, header: header, templateID: 1, channelID: 2, userIdentity: user,
                coinbaseTransaction: coinbase),
            height: 200, blockData: withData ? header.bytes + [1] + coinbase : nil)
    }

    @Test func listSettingsComeFromFlagsWithTheDataDirectoryAsDefault() throws {
        var settings = try BlocksListCommand.parse(["--journal", "/srv/pool/blocks", "--unsettled", "--json"]).settings()
        #expect(settings == .init(journal: "/srv/pool/blocks", unsettledOnly: true, json: true))
        settings = try BlocksListCommand.parse(["--data-dir", "/srv/pool/"]).settings(environment: [:])
        #expect(settings == .init(journal: "/srv/pool/blocks", unsettledOnly: false, json: false))
        settings = try BlocksListCommand.parse([]).settings(environment: ["XDG_DATA_HOME": "/home/x/.data"])
        #expect(settings.journal == "/home/x/.data/sv2/blocks")
        // Through the top-level command, as a user types it.
        let parsed = try SV2.parseAsRoot(["blocks", "list", "--journal", "/j/blocks.jsonl"])
        #expect((parsed as? BlocksListCommand)?.settings().journal == "/j/blocks.jsonl")
        #expect(throws: (any Error).self) { try SV2.parseAsRoot(["blocks", "list", "--bogus"]) }
    }

    @Test func submitNeedsTheNodeAndReusesTheJDServersRPCOptions() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let settings = try BlocksSubmitCommand.parse([
            "--journal", "/j", "--rpc", "127.0.0.1:18443", "--rpc-cookie", "/var/lib/bitcoind/regtest/.cookie",
            "--rpc-timeout", "7",
        ]).settings()
        #expect(settings.journal == "/j" && settings.rpc.endpoint.port == 18443 && settings.rpc.requestTimeout == .seconds(7))
        #expect(!settings.retryFailed)
        guard case .cookie(let path) = settings.rpc.credentials else {
            Issue.record("expected cookie credentials")
            return
        }
        #expect(path == "/var/lib/bitcoind/regtest/.cookie")
        let passwordFile = directory.file("rpc-password")
        write("s3cret-pw\n", to: passwordFile, permissions: 0o600)
        let user = try BlocksSubmitCommand.parse([
            "--journal", "/j", "--rpc", "localhost:8332", "--rpc-user", "pool", "--rpc-password-file", passwordFile,
        ]).settings()
        guard case .user("pool", let password) = user.rpc.credentials else {
            Issue.record("expected user credentials")
            return
        }
        #expect(password == "s3cret-pw")
        #expect(try BlocksSubmitCommand.parse([
            "--rpc", "127.0.0.1:8332", "--rpc-cookie", "/c", "--retry-failed",
        ]).settings().retryFailed)
        // No node, or incomplete credentials, or an unsafe password file: refused before anything runs.
        for arguments in [
            ["--journal", "/j"],
            ["--journal", "/j", "--rpc", "127.0.0.1:8332"],
            ["--journal", "/j", "--rpc-cookie", "/x/.cookie"],
        ] {
            #expect(throws: (any Error).self, "\(arguments)") { try BlocksSubmitCommand.parse(arguments).settings() }
        }
        chmod(passwordFile, 0o644)
        do {
            _ = try BlocksSubmitCommand.parse([
                "--rpc", "localhost:8332", "--rpc-user", "pool", "--rpc-password-file", passwordFile,
            ]).settings()
            Issue.record("a password file readable by others was accepted")
        } catch {
            #expect(!"\(error)".contains("s3cret"))
        }
    }

    @Test func listPrintsEachBlockWithItsStateAsTextOrJSON() throws {
        let whole = Self.found(nonce: 1, withData: true, user: "bob \"the\" miner")
        let pool = Self.found(nonce: 2, withData: false)
        let done = Self.found(nonce: 3, withData: true)
        let text = [
            whole.jsonLine, pool.jsonLine, done.jsonLine,
            BlockJournalEntry(event: .submitted, hash: pool.hash, time: 1_764_547_260).jsonLine,
            BlockJournalEntry(event: .failed, hash: done.hash, time: 1_764_547_300, reason: "submitblock: high-hash").jsonLine,
            "{\"time\":1,\"event\":\"fou",
        ].joined(separator: "\n")
        let reader = BlockJournalReader(bytes: Array(text.utf8), path: "/j/blocks.jsonl")
        let all = BlocksListCommand.render(reader, .init(journal: "/j", unsettledOnly: false, json: false))
        #expect(all.count == 4)
        #expect(all[0].hasPrefix(whole.hash.displayHex) && all[0].contains("height 200"))
        #expect(all[0].contains("found 2025-12-01T00:00:00Z") && all[0].contains("found (unsettled)") && all[0].contains("block data"))
        #expect(all[1].contains("submitted (unsettled) at 2025-12-01T00:01:00Z") && all[1].contains("no block data"))
        #expect(all[2].contains("failed at") && all[2].contains("reason: \"submitblock: high-hash\"") && !all[2].contains("unsettled"))
        #expect(all[3] == "3 blocks listed from /j/blocks.jsonl: 2 unsettled, 1 unreadable lines (see above)")

        let unsettled = BlocksListCommand.render(reader, .init(journal: "/j", unsettledOnly: true, json: true))
        #expect(unsettled.count == 1)
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(unsettled[0].utf8)) as? [[String: Any]])
        #expect(objects.map { $0["hash"] as? String } == [whole.hash.displayHex, pool.hash.displayHex])
        #expect(objects[0]["user"] as? String == "bob \"the\" miner" && objects[0]["has_block_data"] as? Bool == true)
        #expect(objects[1]["state"] as? String == "submitted" && objects[1]["settled"] as? Bool == false)
        #expect(objects[1]["height"] as? Int == 200 && objects[1]["found_time"] as? Int == 1_764_547_200)
        #expect(objects[1]["reason"] is NSNull && objects[1]["has_block_data"] as? Bool == false)
    }

    /// A journal that is not there is refused by `list` and `settle` with its path (as resolved), never read as a
    /// journal without blocks: a mistyped `--journal` must not tell an operator looking for a lost block that there
    /// is none. Nothing is created or written. (`submit` is run as a process in `BlocksAppTests`: past the journal it
    /// sets up the process's logging, which a test process can do only once.)
    @Test func aJournalThatIsNotThereIsAnErrorNamingItsPath() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let hash = Self.found(nonce: 9, withData: false).hash.displayHex
        func refusal(_ arguments: [String]) -> String? {
            do {
                var command = try SV2.parseAsRoot(["blocks"] + arguments)
                try command.run()
                Issue.record("\(arguments): ran")
                return nil
            } catch let error as ValidationError {
                return error.message
            } catch {
                Issue.record("\(arguments): \(error)")
                return nil
            }
        }
        let typo = directory.file("blcoks")
        let empty = directory.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        for (journal, named) in [(typo, typo), (typo + "/blocks.jsonl", typo + "/blocks.jsonl"), (empty, empty + "/blocks.jsonl")] {
            for arguments in [
                ["list", "--journal", journal],
                ["list", "--journal", journal, "--unsettled", "--json"],
                ["settle", hash, "--journal", journal, "--as", "failed", "--reason", "checked"],
            ] {
                let message = refusal(arguments)
                #expect(message?.hasPrefix("no block journal at \(named): no such file") == true, "\(arguments): \(message ?? "")")
                #expect(message?.contains("--journal") == true)
            }
        }
        // The default journal of a data directory no pool has used: "yet", and how to point elsewhere.
        let data = directory.file("data")
        for arguments in [["list", "--data-dir", data], ["settle", hash, "--data-dir", data, "--as", "failed", "--reason", "x"]] {
            let message = refusal(arguments)
            #expect(message?.hasPrefix("no block journal at \(data)/blocks yet") == true, "\(arguments): \(message ?? "")")
            #expect(message?.contains("--journal DIR") == true && message?.contains("--data-dir DIR") == true)
        }
        let message = refusal(["list"] + ["--data-dir", data + "/"])
        #expect(message?.hasPrefix("no block journal at \(data)/blocks yet") == true)
        // Nothing was created while refusing.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["empty"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)

        // A journal that is there but holds no block (a pool started and found none yet) is read: no blocks.
        _ = try BlockJournal(directory: empty)
        for given in [true, false] {
            let reader = try BlocksCommand.read(empty, given: given)
            #expect(reader.fileExists && reader.records.isEmpty && reader.path == empty + "/blocks.jsonl")
        }
        let list = try BlocksListCommand.parse(["--journal", empty])
        try list.run()
    }

    /// What the apps log at start-up for each unsettled block of an earlier run says what to do.
    @Test func theStartUpMessageSaysWhatToDo() throws {
        let reader = BlockJournalReader(bytes: Array((Self.found(nonce: 5, withData: true).jsonLine + "\n"
            + Self.found(nonce: 6, withData: false).jsonLine + "\n").utf8))
        let records = reader.unsettled
        let submit = EarlierUnsettledBlocks.message(records[0], journal: "/d/blocks/blocks.jsonl")
        #expect(submit.contains(records[0].hash.displayHex) && submit.contains("height 200"))
        #expect(submit.contains("sv2 blocks submit --journal /d/blocks/blocks.jsonl --rpc"))
        let rebuild = EarlierUnsettledBlocks.message(records[1], journal: "/d/blocks/blocks.jsonl")
        #expect(rebuild.contains(records[1].hash.displayHex) && rebuild.contains("cannot rebuild it"))
        // Its template provider usually submitted it: `sv2 blocks submit` (and the --rpc start-up) asks the node.
        #expect(rebuild.contains("sv2 blocks submit --journal /d/blocks/blocks.jsonl --rpc") && rebuild.contains("asks the node"))
        #expect(rebuild.contains("sv2 blocks settle \(records[1].hash.displayHex) --journal /d/blocks/blocks.jsonl --as"))
    }

    /// `sv2 blocks settle`: flags checked before anything is read, then the verdict journaled for an unsettled block
    /// only, and read back as settled.
    @Test func settleJournalsAnOperatorsVerdictOnAnUnsettledBlockOnly() throws {
        let pool = Self.found(nonce: 6, withData: false)
        let hash = pool.hash.displayHex
        #expect(throws: (any Error).self) { try BlocksSettleCommand.parse([hash, "--as", "submitted", "--reason", "x"]).settings() }
        #expect(throws: (any Error).self) { try BlocksSettleCommand.parse([hash, "--as", "superseded", "--reason", "  "]).settings() }
        #expect(throws: (any Error).self) { try BlocksSettleCommand.parse(["00ff", "--as", "failed", "--reason", "x"]).settings() }
        #expect(throws: (any Error).self) { try BlocksSettleCommand.parse([hash, "--as", "failed"]).settings() }
        let settings = try BlocksSettleCommand.parse(
            [hash, "--journal", "/j/blocks.jsonl", "--as", "superseded", "--reason", " orphaned at 871234 "]).settings()
        #expect(settings == .init(journal: "/j/blocks.jsonl", hash: pool.hash, event: .superseded, reason: "orphaned at 871234"))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sv2-settle-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try BlockJournal(directory: directory)
        try journal.append(pool)
        try journal.append(BlockJournalEntry(event: .submitted, hash: pool.hash, time: 1_764_547_260))
        let other = Self.found(nonce: 7, withData: false)
        try journal.append(other)
        try journal.append(BlockJournalEntry(event: .acknowledged, hash: other.hash, time: 1_764_547_300))

        var reader = try BlockJournalReader(path: directory)
        let entry = try BlocksSettleCommand.entry(settings, reader: reader, now: 1_764_550_000).get()
        #expect(entry.event == .superseded && entry.hash == pool.hash && entry.reason == "settled by hand: orphaned at 871234")
        try BlockJournal(file: reader.path).append(entry)
        reader = try BlockJournalReader(path: directory)
        #expect(reader.unsettled.isEmpty)
        let settled = try #require(reader.records.first { $0.hash == pool.hash })
        #expect(settled.state == .superseded && settled.reason == "settled by hand: orphaned at 871234")
        // Already settled, or not in the journal: refused, nothing journaled.
        for hash in [other.hash.displayHex, Self.found(nonce: 8, withData: false).hash.displayHex] {
            let refused = try BlocksSettleCommand.parse([hash, "--as", "failed", "--reason", "x"]).settings()
            #expect(throws: (any Error).self) { try BlocksSettleCommand.entry(refused, reader: reader, now: 0).get() }
        }
        // Through the top-level command, as a user types it.
        let parsed = try SV2.parseAsRoot(["blocks", "settle", hash, "--as", "acknowledged", "--reason", "in block 871234"])
        #expect(parsed is BlocksSettleCommand)
    }

    /// `sv2 blocks submit`'s exit status: 0 only when every block it took on is settled in the journal. A block the
    /// node has whose verdict the journal did not take still reads as unsettled there, so it is work left (exit 1).
    @Test func submitExitsZeroOnlyWhenEveryBlockIsSettledInTheJournal() throws {
        let records = BlockJournalReader(bytes: Array(
            [Self.found(nonce: 1, withData: true), Self.found(nonce: 2, withData: false)]
                .map { $0.jsonLine + "\n" }.joined().utf8)).unsettled
        try #require(records.count == 2)
        typealias Result = JournaledBlockSubmission.Result
        let settled = [
            Result(record: records[0], outcome: .acknowledged(verdict: "accepted")),
            Result(record: records[1], outcome: .onBestChain(height: 200, confirmations: 2)),
        ]
        #expect(!BlocksSubmitCommand.leavesWorkToDo(settled, blocks: 2))
        var notJournaled = settled
        notJournaled[1].journalError = .system(call: "write", path: "/j/blocks.jsonl", errno: ENOSPC)
        #expect(BlocksSubmitCommand.leavesWorkToDo(notJournaled, blocks: 2))
        var refused = settled
        refused[0].outcome = .rejected(reason: "submitblock: high-hash")
        #expect(BlocksSubmitCommand.leavesWorkToDo(refused, blocks: 2))
        var unknown = settled
        unknown[1].outcome = .unknownToNode
        #expect(BlocksSubmitCommand.leavesWorkToDo(unknown, blocks: 2))
        #expect(BlocksSubmitCommand.leavesWorkToDo(Array(settled.prefix(1)), blocks: 2))
        // A stored block (duplicate, inconclusive) is settled only when found on the node's best chain.
        var stored = settled
        stored[0].outcome = .acknowledged(verdict: "duplicate", bestChain: .init(height: 200, confirmations: 1))
        #expect(!BlocksSubmitCommand.leavesWorkToDo(stored, blocks: 2))
        for outcome: JournaledBlockSubmission.Outcome in [
            .storedOffBestChain(verdict: "duplicate", height: 200), .storedButUnknown(verdict: "inconclusive"),
            .storedNotChecked(verdict: "duplicate", error: .timedOut(method: "getblockheader", seconds: 30)),
        ] {
            stored[0].outcome = outcome
            #expect(BlocksSubmitCommand.leavesWorkToDo(stored, blocks: 2), "\(outcome)")
        }
    }
}
