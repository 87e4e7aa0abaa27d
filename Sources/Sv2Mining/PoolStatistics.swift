/// Counters of one ``Pool`` (read on the loop thread).
public struct PoolStatistics: Sendable, Hashable {
    /// Channels opened since start (standard and extended).
    public var channelsOpened: UInt64 = 0
    /// Channel opens refused with `OpenMiningChannel.Error`.
    public var channelsRefused: UInt64 = 0
    /// Channels closed (CloseChannel or connection closed).
    public var channelsClosed: UInt64 = 0
    /// Shares accepted (blocks included).
    public var sharesAccepted: UInt64 = 0
    /// Shares rejected, all reasons.
    public var sharesRejected: UInt64 = 0
    /// Shares rejected as `stale-share`.
    public var staleShares: UInt64 = 0
    /// Shares rejected as `duplicate-share`.
    public var duplicateShares: UInt64 = 0
    /// Sum of the difficulty of accepted shares (the channel target's difficulty, as acknowledged).
    public var acceptedWork: Double = 0
    /// `SubmitShares.Success` messages sent.
    public var acksSent: UInt64 = 0
    /// Blocks found (shares meeting the network target).
    public var blocksFound: UInt64 = 0
    /// Blocks not submitted because a block on the same previous block already was (see ``Pool/onSolution``).
    public var redundantBlocks: UInt64 = 0
    /// `SubmitSolution` messages handed to the template source hook.
    public var solutionsSubmitted: UInt64 = 0
    /// Templates received.
    public var templatesReceived: UInt64 = 0
    /// Chain tips (`SetNewPrevHash`) received.
    public var chainTipsReceived: UInt64 = 0
    /// Mining jobs sent (NewMiningJob + NewExtendedMiningJob).
    public var jobsSent: UInt64 = 0
    /// `SetTarget` messages sent (vardiff and UpdateChannel).
    public var targetUpdates: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}
}
