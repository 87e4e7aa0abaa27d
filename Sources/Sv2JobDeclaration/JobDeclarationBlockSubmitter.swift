public import Logging
import Glibc
public import Sv2Bitcoin
public import Sv2Codec
public import Sv2Mining

/// The JD server's block path with Bitcoin Core (`sv2 jd-server --rpc`): every pushed solution is assembled into a
/// full block (``DeclaredBlock``: header from the solution, coinbase from the declared prefix, extranonce and
/// suffix, the declared transactions), checked against its `nbits`, **journaled** (the `found` line carries the whole
/// block, so it can be submitted by hand whatever happens next) and then submitted with `submitblock`. bitcoind's
/// verdict is logged, counted (``JobDeclarationBlockStatistics/results``, in bitcoind's words) and journaled:
/// `acknowledged` for `null` (accepted and connected); for `"duplicate"` or `"inconclusive"` (the node stored the
/// block, which does not say it is on its best chain: ``BitcoinCoreSubmitBlockResult/isStoredWithoutVerdict``) the
/// node is asked with `getblockheader` first (transient failures retried on ``backoff``'s schedule): `acknowledged`
/// when the block is on its best chain, else nothing more is journaled and a warning logged — the block stays
/// unsettled, and the next `--rpc` start-up (``resubmitJournaled(_:completion:)``) or `sv2 blocks submit` checks it
/// again; `failed` with the reason for any other answer. A node that cannot be reached or is still starting
/// (``BitcoinCoreRPCError/isTransient``) is tried again on ``backoff``'s schedule; after the last attempt, or on any
/// other RPC error, the block is journaled `failed` and logged critical — never dropped silently (`sv2 blocks submit
/// --retry-failed` sends it again). Loop thread only.
public final class JobDeclarationBlockSubmitter {
    /// The node blocks go to.
    public let rpc: BitcoinCoreRPCClient
    /// Counters.
    public private(set) var statistics = JobDeclarationBlockStatistics()
    /// Where blocks are recorded before they are submitted (the pool's journal in `sv2 jd-server`).
    public var journal: (any BlockJournaling)?
    /// `submitblock` attempts per block while the node is unreachable or starting, and the delays between them
    /// (see ``RetryBackoff`` for why the default is what it is).
    public var backoff = RetryBackoff()
    /// Blocks being submitted at once; more are journaled `failed` (a flood of valid blocks cannot happen on a real
    /// network).
    public var maximumPendingBlocks = 16
    /// Blocks one JD connection may have journaled and submitted in a burst; the allowance grows back by one every
    /// ``blockAllowanceInterval``. Real blocks come minutes apart; a JD client inventing blocks of a trivial
    /// `nbits` on made-up previous blocks must not turn into a stream of journal flushes and `submitblock` calls.
    public var blockBurstPerConnection = 10
    /// Time for one block of allowance to come back.
    public var blockAllowanceInterval: Duration = .seconds(10)
    /// The chain tip the pool mines on (`prevHash`, `nbits`), when known: a solution on that tip must carry its
    /// `nbits`, or any JD client could get blocks of a trivial target journaled and submitted.
    public var chainTip: (() -> (prevHash: Hash256, nbits: UInt32)?)?
    /// The node's mempool lookup the JD server uses (set by `useBitcoinCore`; its settings and counters).
    public var mempoolLookup: BitcoinCoreTransactionLookup?
    /// Finds transactions the JD server's mempool view lacks (``BitcoinCoreTransactionLookup``).
    public var transactionLookup: ((_ wtxids: [Hash256], _ completion: @escaping ([[UInt8]]) -> Void) -> Void)?
    /// Called with every verdict (or final failure) of a submitted block; for `"duplicate"` or `"inconclusive"` once
    /// the node was asked whether the block is on its best chain (and the journal written accordingly).
    public var onResult: ((DeclaredBlock, Result<BitcoinCoreSubmitBlockResult, BitcoinCoreRPCError>) -> Void)?
    /// Unix time in seconds for the journal (injectable for tests).
    public var wallClock: () -> UInt64 = { UInt64(time(nil)) }

    private unowned let declarator: JobDeclaratorServer
    private var recentBlocks: Set<Hash256> = []
    private var recentOrder: [Hash256] = []
    private var pending = 0
    /// Coinbase merkle paths of recent jobs by token: a pushed solution is checked against up to four jobs, and
    /// hashing every transaction of each for every push would let a JD client spend the loop's time at will.
    private var paths: [[UInt8]: [Hash256]] = [:]
    private var pathOrder: [[UInt8]] = []
    /// Per connection: allowance left and when it was last topped up (loop clock, nanoseconds).
    private var allowances: [UInt64: (left: Int, since: UInt64)] = [:]
    private let logger: Logger

    /// A submitter for the solutions `declarator` receives (its mempool view supplies the transactions).
    public init(
        declarator: JobDeclaratorServer, rpc: BitcoinCoreRPCClient,
        logger: Logger = Logger(label: "stratum.jd-server.blocks")
    ) {
        self.declarator = declarator
        self.rpc = rpc
        self.logger = logger
    }

    /// Blocks being submitted (waiting for a verdict or a retry).
    public var pendingCount: Int { pending }

    /// Handles a pushed solution from `connection` (any stable id of the JD connection): `jobs` are the connection's
    /// recently accepted declarations, most recent first.
    public func handle(_ solution: PushSolution, jobs: [DeclaredMiningJob], from connection: UInt64 = 0) {
        statistics.solutionsReceived += 1
        guard !jobs.isEmpty else {
            statistics.solutionsWithoutJob += 1
            logger.warning("pushed solution on a connection without an accepted declaration: ignored")
            return
        }
        let prevHash = JobDeclarationWire.hash(solution.prevHash)
        if let tip = chainTip?(), tip.prevHash == prevHash, tip.nbits != solution.nbits {
            statistics.solutionsWithWrongBits += 1
            logger.warning("pushed solution on tip \(prevHash) with nbits \(String(solution.nbits, radix: 16)), the tip's are \(String(tip.nbits, radix: 16)): ignored")
            return
        }
        resolve(solution, jobs: jobs, connection: connection, fetched: [:], lookedUp: false)
    }

    /// Finds the job the solution solves (its block meets the target) and submits it; looks missing transactions
    /// up once.
    /// Remembers `hash` among the last 256 blocks seen, so that the same block pushed again is a duplicate.
    private func remember(_ hash: Hash256) {
        guard recentBlocks.insert(hash).inserted else { return }
        recentOrder.append(hash)
        while recentOrder.count > 256 { recentBlocks.remove(recentOrder.removeFirst()) }
    }

    private func resolve(
        _ solution: PushSolution, jobs: [DeclaredMiningJob], connection: UInt64, fetched: [Hash256: [UInt8]], lookedUp: Bool
    ) {
        var lacking: [Hash256] = []
        for job in jobs {
            var transactions: [[UInt8]] = []
            transactions.reserveCapacity(job.wtxids.count)
            for wtxid in job.wtxids {
                guard let transaction = declarator.transaction(wtxid: wtxid) ?? fetched[wtxid] else {
                    lacking.append(wtxid)
                    continue
                }
                transactions.append(transaction)
            }
            guard transactions.count == job.wtxids.count,
                  let header = header(solution, job: job, transactions: transactions),
                  Target(compact: header.nbits)?.isMet(by: header.hash) == true
            else { continue }
            let block: DeclaredBlock
            do throws(DeclaredBlock.AssemblyError) {
                block = try DeclaredBlock(job: job, solution: solution, transactions: transactions)
            } catch {
                logger.debug("pushed solution does not fit a recent job: \(error)")
                continue
            }
            if block.meetsTarget { return found(block, connection: connection) }
        }
        if !lacking.isEmpty, !lookedUp, let transactionLookup {
            transactionLookup(lacking) { [weak self] transactions in
                guard let self else { return }
                var fetched = fetched
                for transaction in transactions { fetched[SHA256d.hash(transaction)] = transaction }
                self.resolve(solution, jobs: jobs, connection: connection, fetched: fetched, lookedUp: true)
            }
            return
        }
        if !lacking.isEmpty {
            statistics.solutionsMissingTransactions += 1
            logger.critical("""
                pushed solution (nonce \(solution.nonce), ntime \(solution.ntime), extranonce \
                \(Sv2Hex.encode(solution.extranonce))) not assembled: \(lacking.count) transactions of its job are \
                known neither here nor to the node
                """)
        } else {
            statistics.solutionsBelowTarget += 1
            logger.warning("pushed solution (nonce \(solution.nonce)) does not meet its nbits with any recent job: ignored")
        }
    }

    /// The header `solution` makes on `job` (cheap: the job's merkle path is computed once), or `nil` when the
    /// extranonce does not fit the job's coinbase.
    private func header(_ solution: PushSolution, job: DeclaredMiningJob, transactions: [[UInt8]]) -> BlockHeader? {
        let path: [Hash256]
        if let known = paths[job.token] {
            path = known
        } else {
            var txids: [Hash256] = []
            txids.reserveCapacity(transactions.count)
            for transaction in transactions {
                guard let stripped = TransactionSerialization.withoutWitness(transaction) else { return nil }
                txids.append(SHA256d.hash(stripped))
            }
            path = MerkleRoot.coinbasePath(transactionIDs: txids)
            paths[job.token] = path
            pathOrder.append(job.token)
            if pathOrder.count > 64 { paths[pathOrder.removeFirst()] = nil }
        }
        let coinbase = job.coinbasePrefix + solution.extranonce + job.coinbaseSuffix
        guard let stripped = TransactionSerialization.withoutWitness(coinbase) else { return nil }
        return BlockHeader(
            version: solution.version, prevHash: JobDeclarationWire.hash(solution.prevHash),
            merkleRoot: MerkleRoot.compute(coinbaseTxid: SHA256d.hash(stripped), path: path), ntime: solution.ntime,
            nbits: solution.nbits, nonce: solution.nonce)
    }

    /// A block: journal it, then submit it.
    private func found(_ block: DeclaredBlock, connection: UInt64) {
        let hash = block.hash
        guard !recentBlocks.contains(hash) else {
            statistics.duplicateSolutions += 1
            return
        }
        guard takeAllowance(connection) else {
            statistics.blocksOverAllowance += 1
            logger.warning("block \(hash) from JD connection \(connection) over its allowance of \(blockBurstPerConnection) blocks: not submitted")
            return
        }
        remember(hash)
        statistics.blocksFound += 1
        let bytes = block.bytes
        let record = FoundBlock(
            hash: hash, header: block.header, templateID: 0, channelID: 0, userIdentity: "job-declaration",
            coinbaseTransaction: block.coinbase)
        let coinbasePrefix = Array(block.coinbase.prefix(64))
        journal(.init(
            event: .found, hash: hash, time: wallClock(), block: record, height: Self.height(coinbasePrefix),
            blockData: bytes))
        guard pending < maximumPendingBlocks else {
            statistics.submissionFailures += 1
            journal(.init(event: .failed, hash: hash, time: wallClock(), reason: "more than \(maximumPendingBlocks) blocks being submitted"))
            logger.critical("block \(hash) not submitted: \(maximumPendingBlocks) blocks are being submitted already (it is in the block journal)")
            return
        }
        pending += 1
        logger.notice("block found on a declared job: \(hash) (\(block.transactions.count + 1) transactions, \(bytes.count) bytes): submitting")
        attempt(block, bytes: bytes, number: 1)
    }

    private func attempt(_ block: DeclaredBlock, bytes: [UInt8], number: Int) {
        statistics.submissions += 1
        rpc.submitBlock(bytes) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let verdict):
                self.statistics.results[verdict.description, default: 0] += 1
                if verdict.isStoredWithoutVerdict {
                    // Stored is not on the best chain (a lost race, a reorg): ask before settling anything.
                    self.logger.notice("block \(block.hash) submitted: \(verdict): checking whether it is on the node's best chain")
                    return self.confirm(block, verdict: verdict, number: 1)
                }
                self.pending -= 1
                if verdict == .accepted {
                    self.logger.notice("block \(block.hash) submitted: \(verdict)")
                    // Connected to the node's best chain: settled, so a restart does not offer it again.
                    self.journal(.init(event: .acknowledged, hash: block.hash, time: self.wallClock(), reason: "submitblock: \(verdict)"))
                } else {
                    self.logger.error("block \(block.hash) rejected by bitcoind: \(verdict)")
                    self.journal(.init(event: .failed, hash: block.hash, time: self.wallClock(), reason: "submitblock: \(verdict)"))
                }
                self.onResult?(block, result)
            case .failure(let error) where error.isTransient && self.backoff.allowsRetry(after: number):
                self.statistics.retries += 1
                let delay = self.backoff.delay(before: number + 1)
                self.logger.warning("block \(block.hash) not submitted yet (attempt \(number) of \(self.backoff.maximumAttempts), next in \(delay)): \(error)")
                self.rpc.eventLoop.schedule(after: delay) { [weak self] in
                    self?.attempt(block, bytes: bytes, number: number + 1)
                }
            case .failure(let error):
                self.pending -= 1
                self.statistics.submissionFailures += 1
                self.journal(.init(
                    event: .failed, hash: block.hash, time: self.wallClock(),
                    reason: "submitblock failed after \(number) attempts: \(error)"))
                self.logger.critical("block \(block.hash) NOT submitted after \(number) attempts: \(error); the whole block is in the block journal (found line, field block): submit it with bitcoin-cli submitblock")
                self.onResult?(block, result)
            }
        }
    }

    /// After `submitblock` answered `verdict` (`"duplicate"` or `"inconclusive"`), asks the node whether the block is
    /// on its best chain: journaled `acknowledged` if it is; otherwise nothing more is journaled (the block stays
    /// unsettled for the next start-up or `sv2 blocks submit`) and a warning says so.
    private func confirm(_ block: DeclaredBlock, verdict: BitcoinCoreSubmitBlockResult, number: Int) {
        rpc.getBlockHeader(hash: block.hash) { [weak self] answer in
            guard let self else { return }
            let why: String
            switch answer {
            case .success(.onBestChain(let height, let confirmations)):
                self.pending -= 1
                self.statistics.storedBlocksOnBestChain += 1
                let reason = JournaledBlockSubmission.Outcome.acknowledgedReason(
                    verdict: verdict.description, bestChain: .init(height: height, confirmations: confirmations))
                self.logger.notice("block \(block.hash): \(reason)")
                self.journal(.init(event: .acknowledged, hash: block.hash, time: self.wallClock(), reason: reason))
                self.onResult?(block, .success(verdict))
                return
            case .failure(let error) where error.isTransient && self.backoff.allowsRetry(after: number):
                let delay = self.backoff.delay(before: number + 1)
                self.logger.warning("block \(block.hash) (submitblock: \(verdict)) not checked with the node yet (attempt \(number) of \(self.backoff.maximumAttempts), next in \(delay)): \(error)")
                self.rpc.eventLoop.schedule(after: delay) { [weak self] in
                    self?.confirm(block, verdict: verdict, number: number + 1)
                }
                return
            case .success(let status):
                why = "getblockheader: \(status)"
            case .failure(let error):
                why = "the node could not be asked whether it is on its best chain (\(error))"
            }
            self.pending -= 1
            self.statistics.storedBlocksNotOnBestChain += 1
            self.logger.warning("block \(block.hash) submitted: \(verdict), but \(why): not journaled acknowledged; it stays unsettled in the block journal, and the next --rpc start-up or `sv2 blocks submit` checks it again")
            self.onResult?(block, .success(verdict))
        }
    }

    /// Submits again the blocks an earlier run journaled but never saw settled (`sv2 jd-server --rpc` at
    /// start-up), through ``JournaledBlockSubmission`` with this submitter's node, journal, clock, retry schedule
    /// (``backoff``) and logger: a block the node accepts, or stored (`"duplicate"`, `"inconclusive"`) and has on
    /// its best chain, is journaled `acknowledged`, what it refuses `failed`; a node that stays unreachable or
    /// starting leaves them unsettled (and the blocks after the first such one are not tried in that run). Records
    /// without `block_data` are not submitted: the node is asked whether it has them (`getblockheader`), and those
    /// on its best chain are journaled `acknowledged`. Loop thread only.
    public func resubmitJournaled(
        _ records: [BlockJournalRecord], completion: @escaping ([JournaledBlockSubmission.Result]) -> Void
    ) {
        let submission = JournaledBlockSubmission(rpc: rpc, journal: journal, logger: logger)
        submission.backoff = backoff
        submission.wallClock = wallClock
        // A pushed solution for the same block during the resubmission is a duplicate, not a second submission.
        for record in records where record.blockData != nil { remember(record.hash) }
        submission.submit(records) { [weak self] results in
            guard let self else { return completion(results) }
            for result in results {
                if result.outcome.settled { self.statistics.journaledBlocksSettled += 1 }
                if result.journalError != nil { self.statistics.journalFailures += 1 }
                result.log(to: self.logger)
            }
            completion(results)
        }
    }

    /// Takes one block of `connection`'s allowance, if it has one left (topped up with the time passed).
    private func takeAllowance(_ connection: UInt64) -> Bool {
        let now = rpc.eventLoop.now
        let parts = blockAllowanceInterval.components
        let interval = Swift.max(UInt64(Swift.max(parts.seconds, 0)) &* 1_000_000_000 &+ UInt64(Swift.max(parts.attoseconds, 0) / 1_000_000_000), 1)
        var entry = allowances[connection] ?? (blockBurstPerConnection, now)
        let earned = (now &- entry.since) / interval
        if earned > 0 {
            entry.left = Int(Swift.min(UInt64(blockBurstPerConnection), UInt64(entry.left) + earned))
            entry.since = entry.left == blockBurstPerConnection ? now : entry.since + earned * interval
        }
        guard entry.left > 0 else {
            allowances[connection] = entry
            return false
        }
        entry.left -= 1
        if allowances.count >= 4_096, allowances[connection] == nil {
            // Bounded: connections with a full allowance carry no information.
            allowances = allowances.filter { $0.value.left < blockBurstPerConnection }
            if allowances.count >= 4_096 { allowances.removeAll() }
        }
        allowances[connection] = entry
        return true
    }

    private func journal(_ entry: BlockJournalEntry) {
        guard let journal else { return }
        do throws(BlockJournalError) { try journal.append(entry) } catch {
            statistics.journalFailures += 1
            logger.critical("block \(entry.hash) (\(entry.event.rawValue)) not journaled: \(error)")
        }
    }

    /// The BIP34 height in a coinbase (version, optional segwit marker, one input, then the scriptSig).
    static func height(_ coinbase: [UInt8]) -> UInt32? {
        var offset = 4
        if coinbase.count > 6, coinbase[4] == 0, coinbase[5] == 1 { offset = 6 }
        offset += 1 + 36  // input count, outpoint
        guard coinbase.count > offset + 1 else { return nil }
        return DeclaredCoinbase.bip34Height(Array(coinbase[(offset + 1)...]))
    }
}
