import ArgumentParser
import Logging
import Sv2JobDeclaration
import Sv2Mining

/// `sv2 blocks submit`: every unsettled block of the journal that holds the whole block (`block_data`: a JD
/// server's, or a pool's once its template provider sent the block's transactions) submitted with Bitcoin Core's
/// `submitblock`, every other one looked up with `getblockheader` (its template provider usually submitted it), the
/// outcome journaled when it settles the block (``JournaledBlockSubmission``).
struct BlocksSubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit every unsettled block that has its block data to Bitcoin Core (submitblock), look up the others (getblockheader), and journal the outcome.",
        discussion: """
            The node's answer is journaled: null (accepted) as acknowledged; "duplicate" or "inconclusive" (the node \
            stored the block, not necessarily on its best chain) is checked with getblockheader: on its best chain, \
            acknowledged; off it, left unsettled (settle it with `sv2 blocks settle HASH --as superseded` once the \
            chain has moved on); not confirmed, left unsettled. Any other answer, or error -22 (the block could not \
            be decoded), is journaled failed with the node's words; any other RPC error leaves the block unsettled. \
            A node that cannot be reached or is still starting (error -28, "Loading block index…") is retried, each \
            retry logged, for about 4 minutes per run (10 attempts, 1 s doubling up to 60 s, plus the request \
            timeout of each attempt); if it stays so, that block and every one after it are left unsettled without \
            being tried (as is a block whose node refuses the credentials): nothing is journaled, run the command \
            again.

            Unsettled blocks without block data (a pool's whose template provider never sent its other \
            transactions) cannot be rebuilt here, but the provider usually submitted them: the node is asked \
            (getblockheader, retried as above). On its best chain: journaled acknowledged. Unknown to the node: \
            left unsettled (lost unless another node, e.g. the template provider's, has it). Known but off its best \
            chain (-1 confirmations): left unsettled, as it may still become best; settle it with `sv2 blocks \
            settle HASH --as superseded` once the chain has moved on.

            --retry-failed also submits blocks journaled failed that carry their block data: a JD server journals \
            failed for a block its node never took (unreachable after every retry, too many blocks at once), and \
            a refusal (e.g. high-hash) is simply refused again.

            Exit status: 0 when every block was acknowledged (by submitblock, or found on the node's best chain), \
            1 when any was refused or is still unsettled, or its settlement could not be written to the journal.

            Example:
              sv2 blocks submit --journal /var/lib/sv2/blocks --rpc 127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie
            """)

    @OptionGroup var location: BlocksCommand.JournalLocation

    @Flag(name: .long, help: "Also submit blocks journaled failed that carry their block data (a JD server's block whose node was unreachable).")
    var retryFailed = false

    @OptionGroup(title: "Bitcoin Core RPC") var bitcoinCore: BitcoinCoreRPCOptions

    /// The journal and the node, resolved from the flags (the password file read and checked here).
    struct Settings {
        var journal: String
        var rpc: BitcoinCoreRPCConfiguration
        /// `--retry-failed`.
        var retryFailed: Bool
    }

    func settings(environment: [String: String]? = nil) throws -> Settings {
        let file = try ConfigFile(path: nil, allowedKeys: BitcoinCoreRPCOptions.keys)
        guard let rpc = try bitcoinCore.resolve(file) else {
            throw ValidationError("--rpc HOST:PORT is required (with --rpc-cookie PATH, or --rpc-user USER --rpc-password-file PATH)")
        }
        return Settings(
            journal: environment.map { location.path(environment: $0) } ?? location.path(), rpc: rpc,
            retryFailed: retryFailed)
    }

    /// The summary printed after the submission: one line per block (with what to do for a block without block
    /// data that is still unsettled), then the counts.
    static func summary(_ results: [JournaledBlockSubmission.Result], journal: String) -> [String] {
        var lines: [String] = []
        for result in results {
            let record = result.record
            let hash = record.hash.displayHex
            let height = record.height.map { String($0) } ?? "?"
            lines.append("\(hash) (height \(height)): \(result.outcome)")
            switch result.outcome {
            case .unknownToNode:
                lines.append("  the journal's found line holds its header and coinbase only; if no node has it: "
                    + "sv2 blocks settle \(hash) --journal \(journal) --as failed --reason TEXT")
            case .offBestChain, .storedOffBestChain:
                lines.append("  once the chain has moved on without it: "
                    + "sv2 blocks settle \(hash) --journal \(journal) --as superseded --reason TEXT")
            default: break
            }
            if let error = result.journalError { lines.append("  NOT journaled: \(error)") }
        }
        // Settled or not is the outcome's own (`Outcome.settled`); of the settled, all but the refused are acknowledged.
        var rejected = 0, withoutData = 0, onBestChain = 0, unknown = 0, offBestChain = 0, notChecked = 0
        for result in results {
            switch result.outcome {
            case .rejected: rejected += 1
            case .onBestChain: onBestChain += 1
            case .unknownToNode: unknown += 1
            case .offBestChain: offBestChain += 1
            case .notChecked: notChecked += 1
            default: break
            }
            if result.outcome.withoutBlockData { withoutData += 1 }
        }
        let settled = results.filter(\.outcome.settled).count
        let acknowledged = settled - rejected, unsettled = results.count - settled
        lines.append("""
            \(results.count) blocks from \(journal): \(acknowledged) acknowledged, \(rejected) failed, \
            \(unsettled) still unsettled; \(withoutData) without block data: \(onBestChain) on the node's best chain, \
            \(unknown) unknown to the node, \(offBestChain) off its best chain, \(notChecked) not checked
            """)
        return lines
    }

    func run() throws {
        let settings = try settings()
        // Read (and refused when missing) before logging is set up: nothing runs for a journal that is not there.
        let reader = try BlocksCommand.read(settings.journal, given: location.isGiven)
        LoopHost.bootstrapLogging(level: .warning)
        let failed = settings.retryFailed ? reader.failedWithBlockData : []
        let unsettled = reader.unsettled + failed
        guard !unsettled.isEmpty else {
            print("no unsettled blocks in \(reader.path)" + (settings.retryFailed ? " and no failed ones with block data" : ""))
            return
        }
        let journal: BlockJournal
        do { journal = try BlockJournal(file: reader.path) } catch {
            throw ValidationError("cannot open the block journal for writing: \(error)")
        }
        let withData = unsettled.filter { $0.blockData != nil }.count
        print("\(unsettled.count - failed.count) unsettled blocks in \(reader.path)"
            + (settings.retryFailed ? " and \(failed.count) failed ones" : "")
            + ", \(withData) with block data: submitting to \(settings.rpc.endpoint)"
            + (withData < unsettled.count ? ", asking it about the \(unsettled.count - withData) others" : ""))
        var results: [JournaledBlockSubmission.Result] = []
        var client: BitcoinCoreRPCClient?
        var submission: JournaledBlockSubmission?
        try LoopHost.run(backend: nil, duration: nil, setUp: { loop in
            let rpc = BitcoinCoreRPCClient(configuration: settings.rpc, eventLoop: loop)
            let submitter = JournaledBlockSubmission(rpc: rpc, journal: journal)
            client = rpc
            submission = submitter
            submitter.submit(unsettled) { done in
                results = done
                loop.stop()
            }
        }, shutdown: { client?.stop() })
        _ = submission
        for line in Self.summary(results, journal: reader.path) { print(line) }
        if Self.leavesWorkToDo(results, blocks: unsettled.count) { throw ExitCode(1) }
    }

    /// Whether the run leaves the operator something to do (exit status 1): a block refused or still unsettled, with
    /// block data or without, or one the node has whose settlement the journal did not take (it still says
    /// unsettled), or fewer results than the `blocks` submitted.
    static func leavesWorkToDo(_ results: [JournaledBlockSubmission.Result], blocks: Int) -> Bool {
        let acknowledged = results.filter {
            guard $0.journalError == nil, $0.outcome.settled else { return false }
            if case .rejected = $0.outcome { return false }
            return true
        }.count
        return results.count < blocks || acknowledged < blocks
    }
}
