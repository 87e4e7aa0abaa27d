public import Sv2Mining

/// What a pool's template link reports, as a ``PoolCluster`` hands it from the loop holding the link to the pools of
/// its other loops (in the order it happened).
public enum TemplateFeedEvent: Sendable, Hashable {
    /// A `NewTemplate`.
    case template(BlockTemplate)
    /// A `SetNewPrevHash` (Template Distribution).
    case chainTip(TemplateChainTip)
    /// The link (re)connected: blocks handed to the old link are submitted again.
    case connected
    /// The link is gone or silent: no new work until a chain tip arrives.
    case lost
}
