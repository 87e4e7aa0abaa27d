public import Sv2Bitcoin
public import Sv2Mining

/// What a `MinerSession` has done so far; a plain value for the CLI and tests.
public struct MinerStatistics: Sendable, Hashable {
    /// The open channel's id.
    public var channelID: UInt32?
    /// The channel's extranonce prefix.
    public var extranoncePrefix: Extranonce?
    /// The current channel target.
    public var target: Target?
    /// `OpenMiningChannel.Error` code, if the upstream refused the channel.
    public var channelError: String?
    /// Jobs received (`NewMiningJob` + `NewExtendedMiningJob`).
    public var jobsReceived = 0
    /// Chain tips received (`SetNewPrevHash`).
    public var prevHashesReceived = 0
    /// Times the workers were given new work.
    public var workUpdates = 0
    /// Headers the workers reported (meeting the scan target).
    public var sharesFound = 0
    /// Shares sent upstream.
    public var sharesSubmitted = 0
    /// Shares the upstream accepted (sum of `new_submits_accepted_count`).
    public var sharesAccepted = 0
    /// Sum of `new_shares_sum` (accepted difficulty).
    public var acceptedWork: UInt64 = 0
    /// Shares the upstream rejected (`SubmitShares.Error`).
    public var sharesRejected = 0
    /// Rejections by error code.
    public var rejections: [String: Int] = [:]
    /// Found shares not submitted because their job went stale (new chain tip or job) before they reached the loop.
    public var staleSharesDropped = 0
    /// Found headers that also met the network target (submitted; the pool turns them into blocks).
    public var blocksFound = 0
    /// Shares dropped because the link to the server was congested (see
    /// ``MinerConfiguration/maxPendingShareBytes``). Never blocks: those are sent past the congestion limit.
    public var sharesDroppedCongested = 0
    /// Blocks sent while the link was congested (past ``MinerConfiguration/maxPendingShareBytes``).
    public var blocksSentCongested = 0
    /// Blocks the link could not take at all (connection gone, or its write buffer at the reactor's hard cap, which
    /// closes it). Each is logged at error level with every share field.
    public var blocksNotSent = 0
    /// Headers hashed so far.
    public var totalHashes: UInt64 = 0
    /// Hashrate measured over the last interval (H/s).
    public var hashrate: Double = 0

    /// Creates empty statistics.
    public init() {}
}
