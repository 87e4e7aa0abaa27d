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
/// - `submitblock` answered `null` (accepted: valid and connected to the node's best chain): journaled
///   `acknowledged`;
/// - `submitblock` answered `"duplicate"` or `"inconclusive"`: the node stored the block, but that does not say it
///   is on its best chain (``BitcoinCoreSubmitBlockResult/isStoredWithoutVerdict``: a duplicate may have lost the
///   race or been reorged out; an inconclusive block was stored but not connected, usually because a competing
///   block at that height came first), so the node is asked with `getblockheader` (transient failures retried as
///   below), as ``JobDeclarationBlockSubmitter`` does:
///   - on its best chain: journaled `acknowledged`, the reason naming both answers
///     (``Outcome/acknowledged(verdict:bestChain:)`` with its position);
///   - off its best chain: ``Outcome/storedOffBestChain(verdict:height:)``, nothing journaled: an orphan is
///     `superseded` in the journal's model, which only the operator settles (`sv2 blocks settle --as superseded`)
///     once the chain has moved on;
///   - unknown to the node (contradicting its `submitblock` answer): ``Outcome/storedButUnknown(verdict:)``, or the
///     node could not be asked: ``Outcome/storedNotChecked(verdict:error:)``; nothing journaled either way;
/// - any other answer (a rejection such as `high-hash`), or RPC error -22 (`RPC_DESERIALIZATION_ERROR`: "Block
///   decode failed", "Block does not start with a coinbase", the only error object that is a verdict on the
///   block): journaled `failed` with the node's words;
/// - any other RPC error object (e.g. -32603, an internal error of the node): ``Outcome/notSubmitted(error:)`` at
///   once, nothing journaled (it says nothing about the block);
/// - the node not reached, not answering in full, or still starting (error -28, "Loading block index…": see
///   ``BitcoinCoreRPCError/isTransient``): retried on ``backoff``'s schedule, each retry logged at warning; if it
///   lasts past the last attempt, ``Outcome/notSubmitted(error:)`` with **nothing journaled**: the block stays
///   unsettled, to be submitted on the next try, never settled by a node that was simply down or starting;
/// - the node refusing the credentials, or an answer that is not a JSON-RPC answer: not retried,
///   ``Outcome/notSubmitted(error:)``, nothing journaled either.
///
/// A node that is down stays down for the next block too: within one ``submit(_:completion:)``, once a block ends
/// ``Outcome/notSubmitted(error:)``, ``Outcome/notChecked(error:)`` or ``Outcome/storedNotChecked(verdict:error:)``
/// on a transient error after its retries, every block after it gets ``Outcome/notSubmitted(error:)`` (with its
/// data) or ``Outcome/notChecked(error:)`` (without) with that same error at once, without a call to the node: a run
/// against a node that is down takes one retry schedule (about 4 minutes with the default ``backoff``, plus the
/// request timeout of each attempt), not one per block.
///
/// Only an answer that settles a block is journaled; whatever is left unsettled is simply tried again next time.
///
/// Loop thread only (the client's loop).
public final class JournaledBlockSubmission {
    /// What became of one block.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The node has the block: `null` (`bestChain` nil), or `"duplicate"`/`"inconclusive"` and `getblockheader`
        /// found it on its best chain (at `bestChain`); journaled `acknowledged`.
        case acknowledged(verdict: String, bestChain: BestChainPosition? = nil)
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
        /// `submitblock` answered `verdict` (`"duplicate"` or `"inconclusive"`: stored) but `getblockheader` found the
        /// block off the node's best chain (confirmations -1); nothing journaled, still unsettled (it may still
        /// become best: once the chain has moved on, the operator settles it `superseded`).
        case storedOffBestChain(verdict: String, height: Int)
        /// `submitblock` answered `verdict` (`"duplicate"` or `"inconclusive"`) but `getblockheader` says the node
        /// does not know the block (error -5), which contradicts it; nothing journaled, still unsettled.
        case storedButUnknown(verdict: String)
        /// `submitblock` answered `verdict` (`"duplicate"` or `"inconclusive"`) and the node could not be asked
        /// whether the block is on its best chain; nothing journaled, still unsettled.
        case storedNotChecked(verdict: String, error: BitcoinCoreRPCError)

        /// Where `getblockheader` found a block on the node's best chain.
        public struct BestChainPosition: Sendable, Hashable {
            /// The block's height.
            public var height: Int
            /// Its confirmations (1 or more).
            public var confirmations: Int

            /// A position at `height`, `confirmations` deep.
            public init(height: Int, confirmations: Int) {
                self.height = height
                self.confirmations = confirmations
            }
        }

        /// Whether the block is settled now.
        public var settled: Bool {
            switch self {
            case .acknowledged, .rejected, .onBestChain: true
            case .notSubmitted, .unknownToNode, .offBestChain, .notChecked, .storedOffBestChain, .storedButUnknown,
                .storedNotChecked:
                false
            }
        }

        /// Whether the journal did not hold the whole block (the node was asked about it instead of given it).
        public var withoutBlockData: Bool {
            switch self {
            case .acknowledged, .rejected, .notSubmitted, .storedOffBestChain, .storedButUnknown, .storedNotChecked: false
            case .onBestChain, .unknownToNode, .offBestChain, .notChecked: true
            }
        }

        public var description: String {
            switch self {
            case .acknowledged(let verdict, let bestChain):
                "acknowledged (\(Self.acknowledgedReason(verdict: verdict, bestChain: bestChain)))"
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
            case .storedOffBestChain(let verdict, let height):
                "not settled: submitblock: \(verdict), but the node has the block at height \(height) off its best "
                    + "chain (getblockheader: -1 confirmations): it may still become best, or be stale; once the chain "
                    + "has moved on without it, settle it with `sv2 blocks settle --as superseded`"
            case .storedButUnknown(let verdict):
                "not settled: submitblock: \(verdict), but getblockheader says the node does not know the block: "
                    + "the node contradicts itself; still unsettled, check it with `bitcoin-cli getblockheader HASH`"
            case .storedNotChecked(let verdict, let error):
                "not settled: submitblock: \(verdict), but the node could not be asked whether the block is on its "
                    + "best chain (\(error)): still unsettled"
            }
        }

        /// The journaled reason of ``acknowledged(verdict:bestChain:)`` (without the note that it was resubmitted),
        /// e.g. "submitblock: duplicate; the node has it on its best chain at height 840000 (2 confirmations)".
        static func acknowledgedReason(verdict: String, bestChain: BestChainPosition?) -> String {
            guard let bestChain else { return "submitblock: \(verdict)" }
            return "submitblock: \(verdict); the node has it on its best chain at height \(bestChain.height) "
                + "(\(bestChain.confirmations) confirmations)"
        }

        /// The transient error this outcome ended on after its retries (the node down or still starting), if it did.
        var transientError: BitcoinCoreRPCError? {
            switch self {
            case .notSubmitted(let error), .notChecked(let error), .storedNotChecked(_, let error):
                error.isTransient ? error : nil
            default: nil
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
    /// `submitblock` (without block data, or after `"duplicate"`/`"inconclusive"`: `getblockheader`) attempts per
    /// block while the failure is transient, and the delays between them (the default is the JD server's;
    /// ``JobDeclarationBlockSubmitter/resubmitJournaled(_:completion:)`` passes its own). The schedule runs out at
    /// most once per ``submit(_:completion:)``: the blocks after one that used it up are not tried.
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
    /// `completion` gets one result per record (same order), on the loop thread, never inside this call. Once a
    /// record ends on a transient error after its retries (the node down or still starting), the records after it
    /// are not tried: each gets ``Outcome/notSubmitted(error:)`` or ``Outcome/notChecked(error:)`` with that error.
    public func submit(_ records: [BlockJournalRecord], completion: @escaping ([Result]) -> Void) {
        var results: [Result] = []
        results.reserveCapacity(records.count)
        _ = rpc.eventLoop.schedule(after: .zero) { [self] in next(records[...], results: results, completion: completion) }
    }

    private func next(_ rest: ArraySlice<BlockJournalRecord>, results: [Result], completion: @escaping ([Result]) -> Void) {
        guard let record = rest.first else { return completion(results) }
        let done: (Result) -> Void = { [self] result in
            guard let error = result.outcome.transientError, rest.count > 1 else {
                return next(rest.dropFirst(), results: results + [result], completion: completion)
            }
            completion(results + [result] + notTried(rest.dropFirst(), error: error))
        }
        guard let bytes = record.blockData else { return check(record, number: 1, done: done) }
        attempt(record, bytes: bytes, number: 1, done: done)
    }

    /// The results of `records`, not tried because the node was down or still starting after every retry for the
    /// block before them (`error`): the next block would only wait the same schedule out again.
    private func notTried(_ records: ArraySlice<BlockJournalRecord>, error: BitcoinCoreRPCError) -> [Result] {
        logger.error("bitcoind not usable after every retry (\(error)): the \(records.count) blocks left are not tried in this run and stay unsettled")
        return records.map { record in
            Result(record: record, outcome: record.blockData == nil ? .notChecked(error: error) : .notSubmitted(error: error))
        }
    }

    private func attempt(_ record: BlockJournalRecord, bytes: [UInt8], number: Int, done: @escaping (Result) -> Void) {
        rpc.submitBlock(bytes) { [self] answer in
            let outcome: Outcome
            // The transient case comes before the RPC error cases: bitcoind's warmup (-28) is an RPC error object
            // but says nothing about the block, so it is retried, never journaled `failed`.
            switch answer {
            case .success(.accepted):
                outcome = .acknowledged(verdict: BitcoinCoreSubmitBlockResult.accepted.description)
            case .success(let verdict) where verdict.isStoredWithoutVerdict:
                // Stored is not on the best chain: ask where it is before settling anything.
                return confirm(record, verdict: verdict.description, number: 1, done: done)
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
            case .failure(.rpc(_, Self.deserializationErrorCode, let message)):
                // The only error object that judges the block: it could not be decoded as one.
                outcome = .rejected(reason: "submitblock: error \(Self.deserializationErrorCode): \(message.prefix(200))")
            case .failure(let error):
                // Any other error object (-32603 internal error, …) is about the node or the call, not the block.
                outcome = .notSubmitted(error: error)
            }
            done(journaled(Result(record: record, outcome: outcome)))
        }
    }

    /// bitcoind's `RPC_DESERIALIZATION_ERROR`, the only `submitblock` error object about the block itself ("Block
    /// decode failed", "Block does not start with a coinbase"); bitcoind's other refusals are result strings.
    static let deserializationErrorCode = -22

    /// After `submitblock` answered `verdict` (`"duplicate"` or `"inconclusive"`: stored, not necessarily on the best
    /// chain), asks the node where the block is, retrying transient failures on ``backoff``'s schedule.
    private func confirm(_ record: BlockJournalRecord, verdict: String, number: Int, done: @escaping (Result) -> Void) {
        rpc.getBlockHeader(hash: record.hash) { [self] answer in
            let outcome: Outcome
            switch answer {
            case .success(.onBestChain(let height, let confirmations)):
                outcome = .acknowledged(verdict: verdict, bestChain: .init(height: height, confirmations: confirmations))
            case .success(.offBestChain(let height)):
                outcome = .storedOffBestChain(verdict: verdict, height: height)
            case .success(.unknown):
                outcome = .storedButUnknown(verdict: verdict)
            case .failure(let error) where error.isTransient && backoff.allowsRetry(after: number):
                let delay = backoff.delay(before: number + 1)
                logger.warning("block \(record.hash) from the journal (submitblock: \(verdict)) not checked with the node yet (attempt \(number) of \(backoff.maximumAttempts), next in \(delay)): \(error)")
                _ = rpc.eventLoop.schedule(after: delay) { [self] in
                    confirm(record, verdict: verdict, number: number + 1, done: done)
                }
                return
            case .failure(let error):
                outcome = .storedNotChecked(verdict: verdict, error: error)
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
        case .acknowledged(let verdict, let bestChain):
            entry = .init(
                event: .acknowledged, hash: record.hash, time: wallClock(),
                reason: Outcome.acknowledgedReason(verdict: verdict, bestChain: bestChain) + " (resubmitted from the journal)")
        case .rejected(let reason):
            entry = .init(event: .failed, hash: record.hash, time: wallClock(), reason: reason)
        case .onBestChain(let height, let confirmations):
            entry = .init(
                event: .acknowledged, hash: record.hash, time: wallClock(),
                reason: Outcome.onBestChainReason(height: height, confirmations: confirmations))
        case .notSubmitted, .unknownToNode, .offBestChain, .notChecked, .storedOffBestChain, .storedButUnknown,
            .storedNotChecked:
            return result
        }
        var result = result
        do throws(BlockJournalError) { try journal.append(entry) } catch { result.journalError = error }
        return result
    }
}
