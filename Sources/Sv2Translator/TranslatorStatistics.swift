/// What a ``Sv2Translator`` did so far (loop thread).
public struct TranslatorStatistics: Sendable, Hashable {
    /// Devices connected now.
    public var devices = 0
    /// Devices ever accepted.
    public var devicesAccepted: UInt64 = 0
    /// Connections refused (device limit).
    public var devicesRefused: UInt64 = 0
    /// `mining.submit` requests received.
    public var sharesReceived: UInt64 = 0
    /// Shares valid at the device's difficulty.
    public var sharesValid: UInt64 = 0
    /// Shares rejected by the translator (stale, duplicate, low difficulty, bad fields), by Sv2 code.
    public var rejections: [String: UInt64] = [:]
    /// Shares sent upstream (they met the upstream target).
    public var sharesForwarded: UInt64 = 0
    /// Forwarded shares the upstream accepted (counted from `last_sequence_number` progress, not from the
    /// possibly cumulative `new_submits_accepted_count`).
    public var upstreamAccepted: UInt64 = 0
    /// Acknowledgements whose own count disagreed with the sequence progress in the upstream's reading (never
    /// trusted: acks are mapped by sequence number).
    public var upstreamInconsistentAcks: UInt64 = 0
    /// Forwarded shares the upstream rejected.
    public var upstreamRejected: UInt64 = 0
    /// Forwarded shares answered `upstream-unavailable` because the link went down first.
    public var upstreamLost: UInt64 = 0
    /// Shares that were blocks (by the network target).
    public var blocksFound: UInt64 = 0
    /// Jobs sent upstream → devices (one per activation, not per device).
    public var jobsNotified: UInt64 = 0
    /// Times a device's duplicate filter filled and its running job was re-sent above an ntime floor.
    public var jobRenewals: UInt64 = 0
    /// Difficulty changes made by vardiff.
    public var retargets: UInt64 = 0
    /// Lines that were not valid requests.
    public var malformedLines: UInt64 = 0
    /// Connections closed for protocol violations (line too long, too many malformed lines).
    public var protocolCloses: UInt64 = 0
    /// Devices kept connected through an upstream loss (they had sent `mining.extranonce.subscribe`).
    public var devicesKeptOnUpstreamLoss: UInt64 = 0
    /// `mining.set_extranonce` pushes sent (a device's extranonce changed: new upstream channel or prefix).
    public var extranonceUpdates: UInt64 = 0
    /// The aggregated upstream channel's id while open (aggregated mode).
    public var upstreamChannelID: UInt32?
    /// Upstream channels open now (one in aggregated mode, one per mining device per device).
    public var upstreamChannels = 0
    /// Upstream channels ever opened.
    public var channelsOpened: UInt64 = 0
    /// `CloseChannel`s sent upstream (a device left its own channel, or a channel opened for a device that had left).
    public var channelsClosed: UInt64 = 0
    /// `SetExtranoncePrefix`es applied to the devices (each re-homes the devices of its channel, when the first job
    /// sent under the new prefix becomes active).
    public var extranoncePrefixChanges: UInt64 = 0

    /// Creates empty statistics.
    public init() {}
}
