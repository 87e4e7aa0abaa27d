import Sv2Mining

/// One upstream extended channel of a ``Sv2Translator`` and the devices mining on it: the whole translator's in
/// aggregated mode, one device's in per-device mode. Everything the two modes share (job routing, share
/// forwarding, acknowledgements) works on this type; only ``space`` differs.
struct TranslatorChannel {
    /// Jobs, chain tip, target and prefix as the upstream sent them.
    var tracker: MinerJobTracker
    /// The group the upstream put the channel in (jobs sent to the group apply to it), if any.
    var groupID: UInt32?
    /// How the channel's extranonce space is split between its devices.
    var space: TranslatorExtranonceSpace
    /// Connection ids of the devices mining on the channel.
    var members: Set<UInt64> = []
    /// Forwarded shares waiting for the pool's answer.
    var acks = TranslatorShareAcks()
    /// How the upstream counts in this channel's `SubmitShares.Success` (per message, or totals like SRI).
    var semantics = SubmitSuccessSemantics()
    /// A prefix from `SetExtranoncePrefix` waiting for the channel's next job, the first sent under it (see
    /// `Sv2Translator.upstreamExtranoncePrefix`).
    var pendingPrefix: Extranonce?
    /// Whether the devices still mine under another prefix than the active job's: true once a job sent under a new
    /// prefix is active (at once, or at its `SetNewPrevHash`), until they are moved (`Sv2Translator.moveDevices`).
    var devicesBehindActivePrefix: Bool { tracker.activeJob != nil && space.prefix != tracker.activeExtranoncePrefix }

    /// The upstream channel id.
    var id: UInt32 { tracker.channelID }

    init(tracker: MinerJobTracker, groupID: UInt32?, space: TranslatorExtranonceSpace) {
        self.tracker = tracker
        self.groupID = groupID
        self.space = space
    }
}

/// The `OpenExtendedMiningChannel` requests a ``Sv2Translator`` has sent and not yet seen answered, by request id
/// (unique on the connection), with what each channel is for. Bounded by the translator (at most one per device,
/// plus the shared one).
struct TranslatorChannelOpens {
    /// What a requested channel is for.
    enum Purpose: Equatable {
        /// The one aggregated channel.
        case shared
        /// The channel of one device (per-device mode).
        case device(UInt64)
        /// The channel of a device that left before it opened: closed again as soon as it opens.
        case abandoned
    }

    private var waiting: [UInt32: Purpose] = [:]
    private var next: UInt32 = 1

    /// Requests waiting for an answer.
    var count: Int { waiting.count }

    /// A fresh request id for `purpose`.
    mutating func add(_ purpose: Purpose) -> UInt32 {
        while waiting[next] != nil || next == 0 { next &+= 1 }
        let id = next
        next &+= 1
        waiting[id] = purpose
        return id
    }

    /// The purpose of the answered request `id` (removed).
    mutating func take(_ id: UInt32) -> Purpose? { waiting.removeValue(forKey: id) }

    /// The device's request (if any) now opens a channel nobody needs.
    mutating func abandon(_ id: UInt32) {
        if waiting[id] != nil { waiting[id] = .abandoned }
    }

    /// Forgets every request (the connection is gone).
    mutating func removeAll() { waiting.removeAll() }
}
