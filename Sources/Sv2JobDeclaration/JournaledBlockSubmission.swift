import Glibc
public import Logging
public import Sv2Mining

/// Submits blocks the block journal holds but never saw settled (`BlockJournalReader.unsettled`) to
/// Bitcoin Core again (or, for those it does not hold whole, asks the node whether it has them), one after the
/// other, and journals what the node said: `sv2 blocks submit`, `sv2 pool --rpc`
/// at start-up, and `sv2 jd-server --rpc` at start-up
/// (``JobDeclarationBlockSubmitter/resubmitJournaled(_:completion:)``).
///
/// Policy, for each block:
/// - without `block_data` (a pool's block whose template provider never sent its other transactions: it was down,
///   refused, or the pool stopped first) nothing can be submitted from here, but the provider usually did submit
///   it, so the node is asked whether it has it (`getblockheader`,
///   ``BitcoinCoreRPCClient/getBlockHeader(hash:timeout:completion:)``):
///   - on its best chain: the node has the block, validated: journaled `acknowledged`
///     (``Outcome/onBestChain(height:confirmations:)``);
///   - unknown to the node (error -5): ``Outcome/unknownToNode``, nothing journaled: the block is lost unless another
///     node (the template provider's own, if it is another) has it;
///   - known but off its best chain (confirmations -1): ``Outcome/offBestChain(height:)``, nothing journaled: it may
///     still become best, or be stale; only the operator settles it (`sv2 blocks settle --as superseded`);
///   - the node not reached, not answering in full, or still starting: retried as `submitblock` is (below), then
///     ``Outcome/notChecked(error:)``, nothing journaled; any other failure (refused credentials, a malformed
///     answer or one naming another block, another RPC error) at once, the same;
/// - `submitblock` answered `null` (accepted), `"duplicate"` (the node had it) or `"inconclusive"` (valid, not on
///   its best chain yet): the node has the block (``BitcoinCoreSubmitBlockResult/nodeHasBlock``, the policy of
///   ``JobDeclarationBlockSubmitter``), journaled `acknowledged`;
/// - any other answer, or an RPC error object about the block (e.g. -22 "Block decode failed"): journaled
///   `failed` with the node's words;
/// - the node not reached, not answering in full, or still starting (error -28, "Loading block index…": see
///   ``BitcoinCoreRPCError/isTransient``): retried on ``backoff``'s schedule, each retry logged at warning; if it
///   lasts past the last attempt, ``Outcome/notSubmitted(error:)`` with **nothing journaled**: the block stays
///   unsettled, to be submitted on the next try, never settled by a node that was simply down or starting;
/// - the node refusing the credentials, or an answer that is not a JSON-RPC answer: not retried,
///   ``Outcome/notSubmitted(error:)``, nothing journaled either.
///
/// Only an answer that settles a block is journaled; whatever is left unsettled is simply tried again next time.
///
/// Loop thread only (the client's loop).
public final class JournaledBlockSubmission {
    /// What became of one block.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The node has the block (`null`, `"duplicate"` or `"inconclusive"`); journaled `acknowledged`.
        case acknowledged(verdict: String)
        /// The node refused the block; journaled `failed` with this reason.
        case rejected(reason: String)
        /// The node was not reached or gave no usable answer; nothing journaled, still unsettled.
        case notSubmitted(error: BitcoinCoreRPCError)
        /// Without block data: the node has the block on its best chain (`getblockheader`); journaled
        /// `acknowledged`.
        case onBestChain(height: Int, confirmations: Int)
        /// Without block data: the node does not know the block (`getblockheader`: error -5); nothing journaled,
        /// still unsettled.
        case unknownToNode
        /// Without block data: the node knows the block but not on its best chain (`getblockheader`: confirmations
        /// -1); nothing journaled, still unsettled (it may still become best: the operator settles it).
        case offBestChain(height: Int)
        /// Without block data, and the node could not be asked whether it has the block; nothing journaled, still
        /// unsettled.
        case notChecked(error: BitcoinCoreRPCError)

        /// Whether the block is settled now.
        public var settled: Bool {
            switch self {
            case .acknowledged, .rejected, .onBestChain: true
            case .notSubmitted, .unknownToNode, .offBestChain, .notChecked: false
            }
        }

        /// Whether the journal did not hold the whole block (the node was asked about it instead of given it).
        public var withoutBlockData: Bool {
            switch self {
            case .acknowledged, .rejected, .notSubmitted: false
            case .onBestChain, .unknownToNode, .offBestChain, .notChecked: true
            }
        }

        public var description: String {
            switch self {
            case .acknowledged(let verdict): "acknowledged (submitblock: \(verdict))"
            case .rejected(let reason): "failed (\(reason))"
            case .notSubmitted(let error): "not submitted (\(error)): still unsettled"
            case .onBestChain(let height, let confirmations):
                "acknowledged (\(Self.onBestChainReason(height: height, confirmations: confirmations)))"
            case .unknownToNode:
                "not settled: the journal does not hold the whole block and the node does not know it (getblockheader: "
                    + "Block not found): it is lost unless another node has it; ask the template provider's node "
                    + "(`bitcoin-cli getblockheader HASH`), and if no node has it, settle it with `sv2 blocks settle "
                    + "--as failed`"
            case .offBestChain(let height):
                "not settled: the journal does not hold the whole block and the node knows it at height \(height) but "
                    + "not on its best chain (getblockheader: -1 confirmations): it may still become best, or be stale; "
                    + "once the chain has moved on without it, settle it with `sv2 blocks settle --as superseded`"
            case .notChecked(let error):
                "not settled: the journal does not hold the whole block and the node could not be asked whether it "
                    + "has it (\(error)): still unsettled"
            }
        }

        /// The journaled reason of ``onBestChain(height:confirmations:)``.
        static func onBestChainReason(height: Int, confirmations: Int) -> String {
            "the node has it on its best chain at height \(height) (\(confirmations) confirmations); checked with "
                + "getblockheader (the journal does not hold the whole block)"
        }
    }

    /// One block's result.
    public struct Result: Sendable, Equatable {
        /// The block as the journal told it.
        public var record: BlockJournalRecord
        /// What became of it.
        public var outcome: Outcome
        /// Why its outcome could not be journaled, if it could not (the outcome stands; the journal still says
        /// unsettled, so it is submitted, or asked about, again next time, which is harmless: the node answers
        /// "duplicate", or the same header).
        public var journalError: BlockJournalError?

        /// Logs the outcome as the apps do at start-up: settled at notice, not submitted at error, an outcome the
        /// journal did not take at critical.
        public func log(to logger: Logger) {
            if let journalError {
                logger.critical("block \(record.hash) from the journal: \(outcome), but NOT journaled: \(journalError)")
            }
            if outcome.settled {
                logger.notice("block \(record.hash) from the journal: \(outcome)")
            } else {
                logger.error("block \(record.hash) from the journal: \(outcome)")
            }
        }
    }

    /// The node.
    public let rpc: BitcoinCoreRPCClient
    /// Where outcomes are journaled (`nil`: not journaled).
    public let journal: (any BlockJournaling)?
    /// `submitblock` (without block data: `getblockheader`) attempts per block while the failure is transient, and
    /// the delays between them (the default is the JD server's;
    /// ``JobDeclarationBlockSubmitter/resubmitJournaled(_:completion:)`` passes its own).
    public var backoff = RetryBackoff()
    /// Unix time in seconds for the journal (injectable for tests).
    public var wallClock: () -> UInt64 = { UInt64(time(nil)) }

    private let logger: Logger

    /// A submission to `rpc`, journaling outcomes in `journal`; retries are logged to `logger`.
    public init(
        rpc: BitcoinCoreRPCClient, journal: (any BlockJournaling)?,
        logger: Logger = Logger(label: "stratum.blocks.resubmission")
    ) {
        self.rpc = rpc
        self.journal = journal
        self.logger = logger
    }

    /// Submits every record that holds its block and asks the node about every other one, one at a time in order;
    /// `completion` gets one result per record (same order), on the loop thread, never inside this call.
    public func submit(_ records: [BlockJournalRecord], completion: @escaping ([Result]) -> Void) {
        var results: [Result] = []
        results.reserveCapacity(records.count)
        _ = rpc.eventLoop.schedule(after: .zero) { [self] in next(records[...], results: results, completion: completion) }
    }

    private func next(_ rest: ArraySlice<BlockJournalRecord>, results: [Result], completion: @escaping ([Result]) -> Void) {
        guard let record = rest.first else { return completion(results) }
        guard let bytes = record.blockData else {
            return check(record, number: 1) { [self] result in
                next(rest.dropFirst(), results: results + [result], completion: completion)
            }
        }
        attempt(record, bytes: bytes, number: 1) { [self] result in
            next(rest.dropFirst(), results: results + [result], completion: completion)
        }
    }

    private func attempt(_ record: BlockJournalRecord, bytes: [UInt8], number: Int, done: @escaping (Result) -> Void) {
        rpc.submitBlock(bytes) { [self] answer in
            let outcome: Outcome
            // The transient case comes before the RPC error case: bitcoind's warmup (-28) is an RPC error object
            // but says nothing about the block, so it is retried, never journaled `failed`.
            switch answer {
            case .success(let verdict) where verdict.nodeHasBlock:
                outcome = .acknowledged(verdict: verdict.description)
            case .success(let verdict):
                outcome = .rejected(reason: "submitblock: \(verdict)")
            case .failure(let error) where error.isTransient && backoff.allowsRetry(after: number):
                let delay = backoff.delay(before: number + 1)
                logger.warning("block \(record.hash) from the journal not submitted yet (attempt \(number) of \(backoff.maximumAttempts), next in \(delay)): \(error)")
                _ = rpc.eventLoop.schedule(after: delay) { [self] in
                    attempt(record, bytes: bytes, number: number + 1, done: done)
                }
                return
            case .failure(let error) where error.isTransient:
                outcome = .notSubmitted(error: error)
            case .failure(.rpc(_, let code, let message)):
                outcome = .rejected(reason: "submitblock: error \(code): \(message.prefix(200))")
            case .failure(let error):
                outcome = .notSubmitted(error: error)
            }
            done(journaled(Result(record: record, outcome: outcome)))
        }
    }

    /// Asks the node whether it has `record`'s block (the journal does not hold it whole), retrying transient
    /// failures on ``backoff``'s schedule as ``attempt(_:bytes:number:done:)`` does.
    private func check(_ record: BlockJournalRecord, number: Int, done: @escaping (Result) -> Void) {
        rpc.getBlockHeader(hash: record.hash) { [self] answer in
            let outcome: Outcome
            switch answer {
            case .success(.onBestChain(let height, let confirmations)):
                outcome = .onBestChain(height: height, confirmations: confirmations)
            case .success(.offBestChain(let height)):
                outcome = .offBestChain(height: height)
            case .success(.unknown):
                outcome = .unknownToNode
            case .failure(let error) where error.isTransient && backoff.allowsRetry(after: number):
                let delay = backoff.delay(before: number + 1)
                logger.warning("block \(record.hash) from the journal (without block data) not checked with the node yet (attempt \(number) of \(backoff.maximumAttempts), next in \(delay)): \(error)")
                _ = rpc.eventLoop.schedule(after: delay) { [self] in check(record, number: number + 1, done: done) }
                return
            case .failure(let error):
                outcome = .notChecked(error: error)
            }
            done(journaled(Result(record: record, outcome: outcome)))
        }
    }

    /// `result` with its outcome journaled if it settles the block (and the journal's error if it could not be).
    private func journaled(_ result: Result) -> Result {
        guard let journal else { return result }
        let record = result.record
        let entry: BlockJournalEntry
        switch result.outcome {
        case .acknowledged(let verdict):
            entry = .init(event: .acknowledged, hash: record.hash, time: wallClock(), reason: "submitblock: \(verdict) (resubmitted from the journal)")
        case .rejected(let reason):
            entry = .init(event: .failed, hash: record.hash, time: wallClock(), reason: reason)
        case .onBestChain(let height, let confirmations):
            entry = .init(
                event: .acknowledged, hash: record.hash, time: wallClock(),
                reason: Outcome.onBestChainReason(height: height, confirmations: confirmations))
        case .notSubmitted, .unknownToNode, .offBestChain, .notChecked:
            return result
        }
        var result = result
        do throws(BlockJournalError) { try journal.append(entry) } catch { result.journalError = error }
        return result
    }
}
