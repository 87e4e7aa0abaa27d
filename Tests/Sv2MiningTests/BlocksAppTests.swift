import Foundation
import Glibc
import Reactor
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining

/// Found blocks across a restart, through the apps as child processes: `sv2 blocks submit` settles an earlier
/// run's unsettled blocks with ``FakeBitcoinCore`` and journals the verdicts; `sv2 pool` logs every unsettled block
/// at start-up and exports their count; `sv2 jd-server --rpc` submits them again by itself.
@Suite("sv2 blocks and the start-up check (processes)", .serialized)
struct BlocksAppTests {
    typealias Blocks = BlockJournalReaderTests

    /// `sv2 <arguments>` with its standard error (the log) collected with its output.
    static func app(_ arguments: [String]) throws -> AppProcess {
        try AppProcess("/bin/sh", ["-c", "exec \"$0\" \"$@\" 2>&1", try AppProcess.sv2Executable()] + arguments)
    }

    /// A journal directory holding `entries`.
    static func journalDirectory(_ entries: [BlockJournalEntry]) throws -> String {
        let directory = Blocks.temporaryDirectory()
        let journal = try BlockJournal(directory: directory + "/blocks")
        for entry in entries { try journal.append(entry) }
        return directory
    }

    /// The fake node's cookie, in `directory`.
    static func cookie(in directory: String) throws -> String {
        let path = directory + "/.cookie"
        try "__cookie__:c00k1e".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `sv2 blocks submit --journal journal --rpc node --rpc-cookie cookie` (plus `extra`) to its end, expects
    /// exit status `status`, and returns its output (log included).
    static func submit(
        journal: String, node: SocketAddress, cookie: String, extra: [String] = [], status: Int32,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String] {
        let app = try Self.app(
            ["blocks", "submit", "--journal", journal, "--rpc", "127.0.0.1:\(node.port)", "--rpc-cookie", cookie] + extra)
        defer { app.kill() }
        #expect(app.waitForExit(timeout: 60) == status, "\(app.output)", sourceLocation: sourceLocation)
        return app.output
    }

    @Test func submitSettlesTheUnsettledBlocksAndSaysWhatItCouldNotDo() throws {
        let accepted = Blocks.found(nonce: 201, withData: true)
        let duplicate = Blocks.found(nonce: 202, withData: true)
        let poolBlock = Blocks.found(nonce: 203)
        let directory = try Self.journalDirectory([accepted, poolBlock, duplicate])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cookie = try Self.cookie(in: directory)
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync {
            node.submitVerdict = { $0.prefix(BlockHeader.size).elementsEqual(duplicate.blockData!.prefix(BlockHeader.size)) ? "duplicate" : nil }
            // A duplicate is settled once the node says it is on its best chain.
            node.headers = [duplicate.hash.displayHex: (height: 151, confirmations: 1)]
            return try node.start()
        }
        // The pool's block without its data is unknown to the node: still unsettled, so exit status 1.
        let output = try Self.submit(journal: directory + "/blocks", node: address, cookie: cookie, status: 1)
        #expect(output.contains { $0.contains("\(accepted.hash.displayHex) (height 151): acknowledged (submitblock: accepted)") })
        #expect(output.contains { $0.contains("\(poolBlock.hash.displayHex) (height 151): not settled: the journal does not hold the whole block and the node does not know it") })
        #expect(output.contains { $0.contains("3 blocks from \(directory)/blocks/blocks.jsonl: 2 acknowledged, 0 failed, 1 still unsettled; 1 without block data: 0 on the node's best chain, 1 unknown to the node, 0 off its best chain, 0 not checked") }, "\(output)")
        #expect(try runner.sync { node.submitted } == [accepted.blockData!, duplicate.blockData!])
        let after = try BlockJournalReader(path: directory + "/blocks")
        #expect(after.unsettled.map(\.hash) == [poolBlock.hash] && after.record(duplicate.hash)?.state == .acknowledged)

        // A new block the node refuses: journaled failed, exit status 1; `list` shows it, and the pool's block.
        let refused = Blocks.found(nonce: 204, withData: true)
        try BlockJournal(directory: directory + "/blocks").append(refused)
        try runner.sync { node.submitVerdict = { _ in "bad-txnmrklroot" } }
        let again = try Self.submit(journal: directory + "/blocks/blocks.jsonl", node: address, cookie: cookie, status: 1)
        #expect(again.contains { $0.contains("\(refused.hash.displayHex) (height 151): failed (submitblock: bad-txnmrklroot)") })
        #expect(try runner.sync { node.submitted.count } == 3)
        // Journaled failed, so a plain run leaves it alone; --retry-failed sends it again (a JD server's `failed`
        // may mean its node was down). Meanwhile the node has learnt the pool's block (its template provider's
        // submission came through): the plain run settles it, so nothing is left and the exit status is 0.
        try runner.sync {
            node.submitVerdict = { _ in nil }
            node.headers = [poolBlock.hash.displayHex: (height: 151, confirmations: 1)]
        }
        let plain = try Self.submit(journal: directory + "/blocks", node: address, cookie: cookie, status: 0)
        #expect(plain.contains { $0.contains("\(poolBlock.hash.displayHex) (height 151): acknowledged (the node has it on its best chain at height 151 (1 confirmations)") }, "\(plain)")
        #expect(try runner.sync { node.submitted.count } == 3)
        let retry = try Self.submit(
            journal: directory + "/blocks", node: address, cookie: cookie, extra: ["--retry-failed"], status: 0)
        #expect(retry.contains { $0.contains("\(refused.hash.displayHex) (height 151): acknowledged (submitblock: accepted)") })
        #expect(try runner.sync { node.submitted.count } == 4)
        #expect(try BlockJournalReader(path: directory + "/blocks").record(refused.hash)?.state == .acknowledged)
        let list = try Self.app(["blocks", "list", "--journal", directory + "/blocks", "--unsettled"])
        defer { list.kill() }
        #expect(list.waitForExit(timeout: 60) == 0)
        #expect(list.output == ["0 blocks listed from \(directory)/blocks/blocks.jsonl: 0 unsettled"], "\(list.output)")
        #expect(try BlockJournalReader(path: directory + "/blocks").record(poolBlock.hash)?.state == .acknowledged)
    }

    /// `sv2 blocks submit` on a journal of a pool's blocks without their data (the template provider never
    /// answered, but did submit one of them): the node is asked about each; the one on its best chain is journaled
    /// acknowledged, the one it does not know stays unsettled with what to do, and the exit status is 1.
    @Test func submitAsksTheNodeAboutBlocksWithoutTheirData() throws {
        let known = Blocks.found(nonce: 251)
        let lost = Blocks.found(nonce: 252)
        let directory = try Self.journalDirectory([known, lost, .init(event: .submitted, hash: known.hash, time: 1_700_000_101)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cookie = try Self.cookie(in: directory)
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync {
            node.headers = [known.hash.displayHex: (height: 151, confirmations: 2)]
            return try node.start()
        }
        let output = try Self.submit(journal: directory + "/blocks", node: address, cookie: cookie, status: 1)
        #expect(output.contains { $0.contains("0 with block data: submitting to 127.0.0.1:\(address.port), asking it about the 2 others") }, "\(output)")
        #expect(output.contains { $0.contains("\(known.hash.displayHex) (height 151): acknowledged (the node has it on its best chain at height 151 (2 confirmations)") }, "\(output)")
        #expect(output.contains { $0.contains("\(lost.hash.displayHex) (height 151): not settled: the journal does not hold the whole block and the node does not know it") }, "\(output)")
        #expect(output.contains { $0.contains("sv2 blocks settle \(lost.hash.displayHex) --journal \(directory)/blocks/blocks.jsonl --as failed") }, "\(output)")
        #expect(output.contains { $0.contains("2 blocks from \(directory)/blocks/blocks.jsonl: 1 acknowledged, 0 failed, 1 still unsettled; 2 without block data: 1 on the node's best chain, 1 unknown to the node, 0 off its best chain, 0 not checked") }, "\(output)")
        #expect(try runner.sync { node.calls } == ["getblockheader", "getblockheader"])
        #expect(try runner.sync { node.headerQueries } == [known.hash.displayHex, lost.hash.displayHex])
        #expect(try runner.sync { node.submitted }.isEmpty)
        let after = try BlockJournalReader(path: directory + "/blocks")
        #expect(after.record(known.hash)?.state == .acknowledged)
        #expect(after.record(known.hash)?.reason?.contains("checked with getblockheader") == true)
        #expect(after.unsettled.map(\.hash) == [lost.hash])
    }

    /// `sv2 pool` after a crash: every unsettled block of the earlier run is logged at error level with what to
    /// do, and `sv2_pool_journal_unsettled_blocks` says how many; settled ones are not mentioned.
    @Test func thePoolReportsAnEarlierRunsUnsettledBlocksAtStartUp() throws {
        let whole = Blocks.found(nonce: 211, withData: true)
        let poolBlock = Blocks.found(nonce: 212)
        let settled = Blocks.found(nonce: 213)
        let directory = try Self.journalDirectory([
            whole, poolBlock, settled, .init(event: .acknowledged, hash: settled.hash, time: 1_700_000_300),
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The last line cut short by the crash: reported too, with its line number.
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/blocks/blocks.jsonl"))
        try file.seekToEnd()
        try file.write(contentsOf: Data("{\"time\":1700000400,\"event\":\"fo".utf8))
        try file.close()
        let pool = try Self.app([
            "pool", "--listen", "127.0.0.1:0", "--no-noise", "--log-level", "warning", "--backend", "epoll",
            "--data-dir", directory, "--block-journal", directory + "/blocks", "--accounting", "off", "--threads", "1",
            "--metrics", "127.0.0.1:0",
        ])
        defer { pool.kill() }
        let metricsPort = try #require(try pool.waitForPort(inLineContaining: "metrics on http://"))
        let output = pool.output
        let logged = output.filter { $0.contains("error") && $0.contains("unsettled block of an earlier run") }
        #expect(logged.count == 2, "\(output)")
        #expect(logged.contains { $0.contains(whole.hash.displayHex) && $0.contains("height 151") && $0.contains("sv2 blocks submit --journal \(directory)/blocks/blocks.jsonl") })
        #expect(logged.contains { $0.contains(poolBlock.hash.displayHex) && $0.contains("cannot rebuild it") })
        #expect(!output.contains { $0.contains(settled.hash.displayHex) })
        #expect(output.contains { $0.contains("line 5, field event") && $0.contains("cut short") })
        let scrape = try MetricsScrape.get(port: metricsPort)
        #expect(scrape.value("sv2_pool_journal_unsettled_blocks", ["server": "pool"]) == 2)
    }

    /// `sv2 pool --rpc` after a crash (one loop or several): the journaled whole blocks (a pool's own, made whole
    /// from its template provider's answer, a second found line) go to the node by themselves, the node is asked
    /// about those without their data, the verdicts are journaled, and the gauge counts only what is still
    /// unsettled (a block whose data never came and that the node does not know).
    @Test(arguments: [1, 2])
    func thePoolResubmitsItsWholeBlocksAtStartUp(threads: Int) throws {
        let found = Blocks.found(nonce: 231)
        let whole = Blocks.found(nonce: 231, time: 1_700_000_150, withData: true)
        let noData = Blocks.found(nonce: 232)
        let onChain = Blocks.found(nonce: 233)
        try Self.expectResubmittedAtStartUp(
            journal: [found, noData, .init(event: .submitted, hash: found.hash, time: 1_700_000_101), whole, onChain],
            whole: whole, acknowledging: found.hash, onChain: onChain.hash, leaving: noData.hash,
            settledLine: "2 of 3 journaled blocks of an earlier run settled, 1 still unsettled",
            app: ["pool", "--listen", "127.0.0.1:0", "--no-noise", "--log-level", "warning", "--backend", "epoll",
                  "--threads", "\(threads)"])
    }

    /// `sv2 jd-server --rpc` after a crash: the journaled whole blocks go to the node again by themselves, the node
    /// is asked about the others, the verdicts are journaled, and the gauge counts only what is still unsettled (the
    /// pool's own block the node does not know).
    @Test func theJDServerResubmitsJournaledBlocksAtStartUp() throws {
        let whole = Blocks.found(nonce: 221, withData: true)
        let poolBlock = Blocks.found(nonce: 222)
        let onChain = Blocks.found(nonce: 223)
        try Self.expectResubmittedAtStartUp(
            journal: [whole, onChain, poolBlock], whole: whole, acknowledging: whole.hash, onChain: onChain.hash,
            leaving: poolBlock.hash,
            settledLine: "2 of 3 journaled blocks of an earlier run settled, 1 still unsettled",
            app: ["jd-server", "--listen", "127.0.0.1:0", "--jd-listen", "127.0.0.1:0", "--no-noise", "--log-level",
                  "warning", "--backend", "epoll"])
    }

    /// `sv2 pool --rpc` started together with its node: bitcoind answers -28 ("Loading block index…") at first.
    /// The start-up check reports it and the pool runs on; the earlier run's block goes to the node again until the
    /// node takes it and is journaled acknowledged (the -28 answer once journaled it failed and stopped the pool).
    @Test func aPoolStartedWithItsNodeWaitsForTheNodeToFinishStarting() throws {
        let whole = Blocks.found(nonce: 241, withData: true)
        let directory = try Self.journalDirectory([whole])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cookie = try Self.cookie(in: directory)
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync {
            // The first two calls (the start-up check's getblockchaininfo and the first submitblock, in either
            // order) find the node still starting.
            node.errorAnswers = Array(repeating: (-28, "Loading block index…"), count: 2)
            return try node.start()
        }
        let pool = try Self.app([
            "pool", "--listen", "127.0.0.1:0", "--no-noise", "--log-level", "warning", "--backend", "epoll",
            "--data-dir", directory, "--block-journal", directory + "/blocks", "--accounting", "off",
            "--rpc", "127.0.0.1:\(address.port)", "--rpc-cookie", cookie,
        ])
        defer { pool.kill() }
        // Settled only after the first retry (a second later): had the check stopped the pool, it would not come.
        #expect(try pool.waitForLine(containing: "1 of 1 journaled blocks of an earlier run settled, 0 still unsettled") != nil, "\(pool.output)")
        #expect(try runner.sync { node.submitted } == [whole.blockData!])
        #expect(try runner.sync { node.calls.sorted() } == ["getblockchaininfo", "submitblock", "submitblock"])
        let output = pool.output
        #expect(output.contains { $0.contains("warning") && $0.contains("error -28: Loading block index…") && $0.contains("still starting") }, "\(output)")
        #expect(output.contains { $0.contains("\(whole.hash.displayHex) from the journal not submitted yet (attempt 1 of 10") }, "\(output)")
        #expect(!output.contains { $0.contains("stopping") || $0.contains("critical") }, "\(output)")
        let after = try BlockJournalReader(path: directory + "/blocks")
        #expect(after.unsettled.isEmpty && after.record(whole.hash)?.state == .acknowledged)
    }

    /// `sv2 blocks` with a journal that is not there: exit status 64 and the path named, never "0 blocks" or "no
    /// unsettled blocks"; `submit` does not go to the node.
    @Test func aMistypedJournalIsAnErrorNotAnEmptyList() throws {
        let directory = Blocks.temporaryDirectory()
        let typo = directory + "/blcoks"
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync { try node.start() }
        for arguments in [
            ["list", "--journal", typo],
            ["submit", "--journal", typo, "--rpc", "127.0.0.1:\(address.port)", "--rpc-cookie", directory + "/.cookie"],
            ["submit", "--journal", typo, "--rpc", "127.0.0.1:\(address.port)", "--rpc-cookie", directory + "/.cookie", "--retry-failed"],
        ] {
            let app = try Self.app(["blocks"] + arguments)
            defer { app.kill() }
            #expect(app.waitForExit(timeout: 60) == 64, "\(arguments): \(app.output)")
            #expect(app.output.contains { $0.contains("no block journal at \(typo): no such file") }, "\(arguments): \(app.output)")
            #expect(!app.output.contains { $0.contains("blocks listed") || $0.contains("no unsettled blocks") })
        }
        #expect(try runner.sync { node.calls }.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    /// Runs the app `arguments` (plus its journal, `--rpc` to a FakeBitcoinCore and `--metrics`) over a journal of
    /// `entries` left by an earlier run, and checks that at start-up it sent exactly `whole`'s block to the node,
    /// asked the node about `onChain` (a block without its data, on the node's best chain) and `left` (one it does
    /// not know), logged `settledLine`, journaled `acknowledged` and `onChain` as acknowledged and left only `left`
    /// unsettled, which the unsettled-blocks gauge counts.
    static func expectResubmittedAtStartUp(
        journal entries: [BlockJournalEntry], whole: BlockJournalEntry, acknowledging acknowledged: Hash256,
        onChain: Hash256, leaving left: Hash256, settledLine: String, app arguments: [String]
    ) throws {
        let directory = try journalDirectory(entries)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cookie = try cookie(in: directory)
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync {
            node.headers = [onChain.displayHex: (height: 151, confirmations: 4)]
            return try node.start()
        }
        let process = try app(arguments + [
            "--data-dir", directory, "--block-journal", directory + "/blocks", "--accounting", "off",
            "--metrics", "127.0.0.1:0", "--rpc", "127.0.0.1:\(address.port)", "--rpc-cookie", cookie,
        ])
        defer { process.kill() }
        let metricsPort = try #require(try process.waitForPort(inLineContaining: "metrics on http://"))
        #expect(try runner.wait(timeout: 60) { node.submitted.count == 1 })
        #expect(try runner.sync { node.submitted } == [whole.blockData!])
        #expect(try process.waitForLine(containing: settledLine) != nil, "\(process.output)")
        #expect(try runner.sync { node.headerQueries.sorted() } == [onChain.displayHex, left.displayHex].sorted())
        let scrape = try TestMetrics.scrape(port: metricsPort) {
            $0.value("sv2_pool_journal_unsettled_blocks", ["server": "pool"]) == 1
        }
        #expect(scrape.value("sv2_pool_journal_unsettled_blocks", ["server": "pool"]) == 1)
        let after = try BlockJournalReader(path: directory + "/blocks")
        #expect(after.record(acknowledged)?.state == .acknowledged && after.unsettled.map(\.hash) == [left])
        #expect(after.record(onChain)?.state == .acknowledged)
        #expect(after.record(onChain)?.reason?.contains("on its best chain at height 151 (4 confirmations)") == true)
    }
}
