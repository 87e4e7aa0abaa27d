/// How a ``Sv2Translator`` maps its Sv1 devices onto upstream Sv2 channels (all on its one upstream connection).
public enum TranslatorChannelMode: String, Sendable, Hashable, CaseIterable {
    /// One extended channel for the whole translator; each device gets a disjoint extranonce1 range carved from
    /// that channel's extranonce space (like SRI's aggregated mode). The pool sees one channel and one hashrate.
    case aggregated
    /// One extended channel per subscribed device: the pool sees (and targets, credits and accounts) every device
    /// as its own channel; a device's extranonce1 is its channel's prefix. Every channel carries the configured
    /// `userIdentity` (a device's worker name is not known when its channel must be opened: `mining.authorize`
    /// may follow the subscribe, whose answer waits for the channel).
    case perDevice = "per-device"
}
