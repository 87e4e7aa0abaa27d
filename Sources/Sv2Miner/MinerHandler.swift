public import Sv2Codec
public import Sv2Service
import Sv2Mining

/// The Mining client handler of a CPU miner: opens the configured channel on setup and feeds everything the
/// upstream sends into its `MinerSession` (a class, so the CLI and the worker callbacks reach the same state).
public struct MinerHandler: Sv2MiningClientHandler {
    /// The session that holds the miner's state.
    public let session: MinerSession

    /// Wraps `session`.
    public init(session: MinerSession) { self.session = session }

    /// Opens the channel.
    public mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try session.connectionDidSetUp(context: context)
    }

    /// Stops hashing.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        session.connectionDidClose()
    }

    /// Standard channel open: track it and start the workers.
    public mutating func handle(
        _ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext
    ) throws(Sv2ServiceError) {
        let tracker: MinerJobTracker
        do { tracker = try MinerJobTracker(message) } catch { throw .rejected("\(error)") }
        try session.channelOpened(tracker, groupChannelID: message.groupChannelID)
    }

    /// Extended channel open: track it and start the workers.
    public mutating func handle(
        _ message: OpenExtendedMiningChannelSuccessView, context: Sv2ClientContext
    ) throws(Sv2ServiceError) {
        let tracker: MinerJobTracker
        do { tracker = try MinerJobTracker(message) } catch { throw .rejected("\(error)") }
        try session.channelOpened(tracker, groupChannelID: message.groupChannelID)
    }

    /// Channel refused: recorded in the statistics and reported.
    public mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.channelRefused(code: String(decoding: message.errorCode, as: UTF8.self))
    }

    /// A standard job.
    public mutating func handle(_ message: NewMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.countJob()
        try session.update(channel: message.channelID) { (tracker) throws(MinerJobError) in try tracker.receive(message) }
    }

    /// An extended job.
    public mutating func handle(_ message: NewExtendedMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.countJob()
        try session.update(channel: message.channelID) { (tracker) throws(MinerJobError) in try tracker.receive(message) }
    }

    /// A new chain tip.
    public mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.countPrevHash()
        try session.update(channel: message.channelID) { (tracker) throws(MinerJobError) in try tracker.receive(message) }
    }

    /// A new target.
    public mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let target = WireConversions.target(message.maximumTarget)
        try session.update(channel: message.channelID) { (tracker) throws(MinerJobError) in tracker.setTarget(target) }
    }

    /// A new extranonce prefix.
    public mutating func handle(_ message: SetExtranoncePrefixView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard let prefix = Extranonce(copying: message.extranoncePrefix) else {
            throw .rejected("extranonce prefix longer than 32 bytes")
        }
        try session.update(channel: message.channelID) { (tracker) throws(MinerJobError) in
            try tracker.setExtranoncePrefix(prefix)
        }
    }

    /// Accepted shares.
    public mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.sharesAccepted(message)
    }

    /// A rejected share.
    public mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.shareRejected(message)
    }

    /// The upstream closed the channel.
    public mutating func handle(_ message: CloseChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        session.channelClosed(message)
    }

    /// Group membership needs no action: group jobs are accepted by the group id from the channel's Success.
    public mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {}

    /// Nothing to do: the channel keeps mining.
    public mutating func handle(_ message: UpdateChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {}

    /// Nothing to do for a single-channel miner.
    public mutating func handle(_ message: ChannelEndpointChangedView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
}
