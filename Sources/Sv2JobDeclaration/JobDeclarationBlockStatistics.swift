/// Counters of the JD server's block path (``JobDeclarationBlockSubmitter``): pushed solutions, blocks assembled,
/// `submitblock` verdicts and failures.
public struct JobDeclarationBlockStatistics: Sendable, Hashable {
    /// `PushSolution`s handed to the submitter.
    public var solutionsReceived = 0
    /// Solutions on a connection that has no accepted declaration.
    public var solutionsWithoutJob = 0
    /// Solutions whose header meets its `nbits` with none of the connection's recent jobs.
    public var solutionsBelowTarget = 0
    /// Solutions on the current chain tip with other `nbits` than the tip's.
    public var solutionsWithWrongBits = 0
    /// Solutions whose job's transactions are known neither to the JD server nor to the node (not assembled).
    public var solutionsMissingTransactions = 0
    /// The same block pushed again (ignored).
    public var duplicateSolutions = 0
    /// Blocks beyond a connection's allowance (``JobDeclarationBlockSubmitter/blockBurstPerConnection``): not
    /// journaled or submitted (the JD client propagates its blocks through its own Template Provider too).
    public var blocksOverAllowance = 0
    /// Blocks assembled and journaled.
    public var blocksFound = 0
    /// `submitblock` calls made (retries included).
    public var submissions = 0
    /// `submitblock` calls retried after the node was not reached.
    public var retries = 0
    /// bitcoind's verdicts, in its words: `accepted` (null), `duplicate`, `inconclusive`, or a rejection reason such
    /// as `high-hash`. A `duplicate` or `inconclusive` block is counted here and then again in
    /// ``storedBlocksOnBestChain`` or ``storedBlocksNotOnBestChain``.
    public var results: [String: Int] = [:]
    /// Blocks answered `duplicate` or `inconclusive` (stored) that `getblockheader` then found on the node's best
    /// chain (journaled `acknowledged`).
    public var storedBlocksOnBestChain = 0
    /// Blocks answered `duplicate` or `inconclusive` that `getblockheader` did not find on the node's best chain
    /// (off it, unknown, or the node could not be asked): left unsettled in the journal.
    public var storedBlocksNotOnBestChain = 0
    /// Blocks not submitted: the node unreachable after every attempt, or an RPC error (each journaled `failed`).
    public var submissionFailures = 0
    /// Journal writes that failed (the block was still submitted).
    public var journalFailures = 0
    /// Blocks of an earlier run, found unsettled in the journal at start-up, that the node has now settled
    /// (acknowledged or refused; ``JobDeclarationBlockSubmitter/resubmitJournaled(_:completion:)``).
    public var journaledBlocksSettled = 0

    /// Zeroed counters.
    public init() {}

    /// Blocks on the node's best chain when it answered: `accepted` (null), or `duplicate`/`inconclusive` then found
    /// on its best chain (``storedBlocksOnBestChain``): the blocks journaled `acknowledged`.
    public var blocksAccepted: Int { results["accepted", default: 0] + storedBlocksOnBestChain }
}
