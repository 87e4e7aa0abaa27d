public import Sv2Codec
public import Sv2Service
import Sv2Mining

/// The pool's side of a ``Sv2Translator``: its extended channels, the jobs and the share acknowledgements.
public struct TranslatorUpstreamHandler: Sv2MiningClientHandler {
    /// The translator holding the state (it owns the client; weak to avoid a cycle, and so that an application that
    /// releases its translator while the upstream link is still draining gets a typed error on it, not a crash).
    public private(set) weak var translator: Sv2Translator?

    /// Wraps `translator`.
    public init(translator: Sv2Translator) { self.translator = translator }

    /// The translator, or a typed error once the application released it.
    private func owner() throws(Sv2ServiceError) -> Sv2Translator {
        guard let translator else { throw .rejected("the translator was released") }
        return translator
    }

    /// Opens the extended channel(s) the translator needs now.
    public mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamDidSetUp()
    }

    /// Answers waiting shares and sends devices away (they reconnect).
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        translator?.upstreamDidClose()
    }

    /// A channel is open: its devices can mine.
    public mutating func handle(
        _ message: OpenExtendedMiningChannelSuccessView, context: Sv2ClientContext
    ) throws(Sv2ServiceError) {
        let tracker: MinerJobTracker
        do { tracker = try MinerJobTracker(message) } catch { throw .rejected("\(error)") }
        try owner().upstreamChannelOpened(tracker, requestID: message.requestID, groupChannelID: message.groupChannelID)
    }

    /// The pool refused a channel.
    public mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamChannelRefused(
            requestID: message.requestID, code: String(decoding: message.errorCode, as: UTF8.self))
    }

    /// An extended job.
    public mutating func handle(_ message: NewExtendedMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamJob(message)
    }

    /// A new chain tip.
    public mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamPrevHash(message)
    }

    /// The upstream target (decides which shares are forwarded).
    public mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamTarget(message)
    }

    /// Acknowledgements, mapped back to devices by channel and sequence number.
    public mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamAccepted(
            channelID: message.channelID, lastSequenceNumber: message.lastSequenceNumber, count: message.newSubmitsAcceptedCount,
            sum: message.newSharesSum)
    }

    /// A rejected share, relayed to its device.
    public mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamRejected(
            channelID: message.channelID, sequenceNumber: message.sequenceNumber, code: String(decoding: message.errorCode, as: UTF8.self))
    }

    /// Group membership: jobs sent to the group go to its member channels.
    public mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamGroup(message)
    }

    /// A new extranonce prefix for a channel, followed from its next job on (its devices are re-homed).
    public mutating func handle(_ message: SetExtranoncePrefixView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try owner().upstreamExtranoncePrefix(message)
    }

    /// Nothing to do: the channel keeps its settings.
    public mutating func handle(_ message: UpdateChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
}
