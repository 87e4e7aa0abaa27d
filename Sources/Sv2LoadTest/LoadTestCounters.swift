/// Counters of one load-test worker (or, summed, of the whole run). Plain integers owned by one loop thread.
public struct LoadTestCounters: Codable, Sendable, Equatable {
    /// TCP connects started.
    public var connectsStarted = 0
    /// TCP connects that failed (refused, timed out, no port left…).
    public var connectFailures = 0
    /// Connections that completed Noise (if on) and SetupConnection.
    public var handshakesCompleted = 0
    /// Connections that closed before SetupConnection succeeded (after the TCP connect).
    public var handshakeFailures = 0
    /// Connections currently set up.
    public var connectionsUp = 0
    /// Largest `connectionsUp` seen.
    public var peakConnectionsUp = 0
    /// Set-up connections that closed before the load test closed them.
    public var unexpectedCloses = 0
    /// Channels opened (`OpenStandardMiningChannel.Success` / `OpenExtendedMiningChannel.Success`).
    public var channelsOpened = 0
    /// Channel opens refused (`OpenMiningChannel.Error`).
    public var channelOpenFailures = 0
    /// `SubmitSharesStandard` / `SubmitSharesExtended` sent.
    public var sharesSent = 0
    /// Shares acknowledged as accepted, counted from `last_sequence_number` progress (not from
    /// `new_submits_accepted_count`, which some pools report cumulatively).
    public var sharesAccepted = 0
    /// Shares rejected (`SubmitShares.Error`).
    public var sharesRejected = 0
    /// Shares whose acknowledgement never came because their connection closed.
    public var sharesLostOnClose = 0
    /// Acknowledgements naming a sequence number that was not outstanding.
    public var unmatchedAcknowledgements = 0
    /// `SubmitShares.Success` whose accepted count differs from the outstanding shares it covers (in the channel's
    /// reading: per batch as the spec says, or cumulative as SRI's pool sends).
    public var acknowledgementCountMismatches = 0
    /// Channels whose pool reported cumulative counts (totals since the channel opened, SRI) instead of deltas.
    public var cumulativeCountChannels = 0
    /// Upstream job messages a miner could not apply (unknown job, wrong job kind, oversized extranonce).
    public var jobErrors = 0
    /// Lines from the server that could not be parsed or were too long (Stratum V1 mode); each closed its
    /// connection.
    public var protocolErrors = 0
    /// What the first of the ``protocolErrors`` was (the typed error's description: method, field, reason), so a
    /// report that counts them also says what the server sent wrong.
    public var firstProtocolError: String?
    /// Rejections by error code.
    public var rejectionCodes: [String: Int] = [:]

    /// Zeroed counters.
    public init() {}

    /// Shares sent but neither accepted nor rejected.
    public var sharesOutstanding: Int { sharesSent - sharesAccepted - sharesRejected }

    /// Adds `other` (for summing workers). `peakConnectionsUp` adds too: workers peak at about the same time.
    public mutating func add(_ other: LoadTestCounters) {
        connectsStarted += other.connectsStarted
        connectFailures += other.connectFailures
        handshakesCompleted += other.handshakesCompleted
        handshakeFailures += other.handshakeFailures
        connectionsUp += other.connectionsUp
        peakConnectionsUp += other.peakConnectionsUp
        unexpectedCloses += other.unexpectedCloses
        channelsOpened += other.channelsOpened
        channelOpenFailures += other.channelOpenFailures
        sharesSent += other.sharesSent
        sharesAccepted += other.sharesAccepted
        sharesRejected += other.sharesRejected
        sharesLostOnClose += other.sharesLostOnClose
        unmatchedAcknowledgements += other.unmatchedAcknowledgements
        acknowledgementCountMismatches += other.acknowledgementCountMismatches
        cumulativeCountChannels += other.cumulativeCountChannels
        jobErrors += other.jobErrors
        protocolErrors += other.protocolErrors
        if firstProtocolError == nil { firstProtocolError = other.firstProtocolError }
        rejectionCodes.merge(other.rejectionCodes, uniquingKeysWith: +)
    }
}
