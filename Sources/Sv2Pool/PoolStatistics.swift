/// Counters of one ``Pool`` (read on the loop thread).
public struct PoolStatistics: Sendable, Hashable {
    /// Channels opened since start (standard and extended).
    public var channelsOpened: UInt64 = 0
    /// Channel opens refused with `OpenMiningChannel.Error`.
    public var channelsRefused: UInt64 = 0
    /// Channels closed (CloseChannel or connection closed).
    public var channelsClosed: UInt64 = 0
    /// `SetCustomMiningJob`s accepted (Job Declaration).
    public var customJobsAccepted: UInt64 = 0
    /// `SetCustomMiningJob`s refused with `SetCustomMiningJob.Error`, by error code.
    public var customJobRefusals: [String: UInt64] = [:]
    /// Shares accepted on custom jobs (channels that negotiated work selection), included in ``sharesAccepted``.
    public var customJobSharesAccepted: UInt64 = 0
    /// Blocks found on custom jobs, included in ``blocksFound``.
    public var customJobBlocksFound: UInt64 = 0
    /// Shares accepted (blocks included).
    public var sharesAccepted: UInt64 = 0
    /// Shares rejected, all reasons.
    public var sharesRejected: UInt64 = 0
    /// Shares rejected as `stale-share`.
    public var staleShares: UInt64 = 0
    /// Shares rejected as `duplicate-share`.
    public var duplicateShares: UInt64 = 0
    /// Shares rejected, by reason: indexed like ``ShareWindowRow/reasons`` (every `ShareRejection` code, then
    /// `accounting-backlog`).
    public var rejections = [UInt64](repeating: 0, count: ShareWindowRow.reasons.count)
    /// Sum of the difficulty of accepted shares, each at the target of the job it was validated against.
    public var acceptedWork: Double = 0
    /// `SubmitShares.Success` messages sent.
    public var acksSent: UInt64 = 0
    /// Blocks found (shares meeting the network target).
    public var blocksFound: UInt64 = 0
    /// Sibling blocks only counted, not kept: more than the kept maximum on one previous block were found (a flood
    /// at a trivial network target; see ``Pool/onSolution``).
    public var redundantBlocks: UInt64 = 0
    /// Shares repeating a block already handled (rejected as `duplicate-share`, not credited again).
    public var duplicateBlocks: UInt64 = 0
    /// `SubmitSolution` messages handed to the template source hook.
    public var solutionsSubmitted: UInt64 = 0
    /// Submissions the template source hook refused (not connected, send failed): the block stayed pending.
    public var submissionFailures: UInt64 = 0
    /// Blocks the chain tip moved onto (the template source took them).
    public var blocksAcknowledged: UInt64 = 0
    /// Blocks overtaken by a chain tip on another block before they were taken.
    public var blocksSuperseded: UInt64 = 0
    /// Blocks that could not be submitted at all (template gone).
    public var blocksFailed: UInt64 = 0
    /// Block journal writes that failed (the block was still submitted; see the log).
    public var journalFailures: UInt64 = 0
    /// Found blocks journaled whole (a second `found` line with the block's data, from the template provider's
    /// `RequestTransactionData.Success`): `sv2 blocks submit` can send them to a node itself.
    public var blocksJournaledWhole: UInt64 = 0
    /// Found blocks whose data could not be journaled (the template provider refused or did not answer, the link
    /// dropped, its transactions did not make the block, too many waiting, journal write failed): they stay
    /// journaled with their header and coinbase only (see the log).
    public var blockDataFailures: UInt64 = 0
    /// Channels whose duplicate filter filled, so their jobs were renewed above an ntime floor.
    public var duplicateFilterRollovers: UInt64 = 0
    /// Times the template source was lost (closed, silent past its timeout, or unreachable).
    public var templateSourceLosses: UInt64 = 0
    /// Templates received.
    public var templatesReceived: UInt64 = 0
    /// Chain tips (`SetNewPrevHash`) received.
    public var chainTipsReceived: UInt64 = 0
    /// Mining jobs sent (NewMiningJob + NewExtendedMiningJob).
    public var jobsSent: UInt64 = 0
    /// `SetTarget` messages sent (vardiff and UpdateChannel).
    public var targetUpdates: UInt64 = 0

    /// Accounting windows handed to the ledger (only with a ``Pool/ledger``).
    public var accountingWindows: UInt64 = 0
    /// Accounting windows the ledger reported committed (their shares were acknowledged then).
    public var accountingCommits: UInt64 = 0
    /// Times the ledger's queue was found full (the pool then pauses reading from its miners until it catches up).
    public var accountingBacklogs: UInt64 = 0
    /// Rows of closed channels holding only rejections, folded into the window's channel-less row (the open window
    /// already held `Pool.maximumClosedRows` rows of closed channels).
    public var accountingRowsFolded: UInt64 = 0
    /// Seconds from a window's close to its commit being reported on the loop, for the latest commit: the delay
    /// accounting adds to acknowledgements on top of the window itself.
    public var accountingLastCommitLatency: Double = 0

    /// Creates zeroed counters.
    public init() {}

    /// Adds `other`'s counters (the loops of one pool, ``PoolCluster``): counts are summed (wrapping like the counters
    /// themselves), the latest commit latency is the larger of the two.
    public mutating func add(_ other: PoolStatistics) {
        channelsOpened &+= other.channelsOpened
        channelsRefused &+= other.channelsRefused
        channelsClosed &+= other.channelsClosed
        customJobsAccepted &+= other.customJobsAccepted
        for (code, count) in other.customJobRefusals { customJobRefusals[code, default: 0] &+= count }
        customJobSharesAccepted &+= other.customJobSharesAccepted
        customJobBlocksFound &+= other.customJobBlocksFound
        sharesAccepted &+= other.sharesAccepted
        sharesRejected &+= other.sharesRejected
        staleShares &+= other.staleShares
        duplicateShares &+= other.duplicateShares
        for index in rejections.indices where index < other.rejections.count { rejections[index] &+= other.rejections[index] }
        acceptedWork += other.acceptedWork
        acksSent &+= other.acksSent
        blocksFound &+= other.blocksFound
        redundantBlocks &+= other.redundantBlocks
        duplicateBlocks &+= other.duplicateBlocks
        solutionsSubmitted &+= other.solutionsSubmitted
        submissionFailures &+= other.submissionFailures
        blocksAcknowledged &+= other.blocksAcknowledged
        blocksSuperseded &+= other.blocksSuperseded
        blocksFailed &+= other.blocksFailed
        journalFailures &+= other.journalFailures
        blocksJournaledWhole &+= other.blocksJournaledWhole
        blockDataFailures &+= other.blockDataFailures
        duplicateFilterRollovers &+= other.duplicateFilterRollovers
        templateSourceLosses &+= other.templateSourceLosses
        templatesReceived &+= other.templatesReceived
        chainTipsReceived &+= other.chainTipsReceived
        jobsSent &+= other.jobsSent
        targetUpdates &+= other.targetUpdates
        accountingWindows &+= other.accountingWindows
        accountingCommits &+= other.accountingCommits
        accountingBacklogs &+= other.accountingBacklogs
        accountingRowsFolded &+= other.accountingRowsFolded
        accountingLastCommitLatency = Swift.max(accountingLastCommitLatency, other.accountingLastCommitLatency)
    }
}
