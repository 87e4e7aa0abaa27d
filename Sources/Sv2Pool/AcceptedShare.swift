public import Sv2Bitcoin
public import Sv2Mining

/// A share a ``Pool`` accepted (or that found a block), for ``Pool/onShareAccepted``: what a Job Declaration client
/// needs to forward it upstream on the matching custom job.
public struct AcceptedShare: Sendable, Hashable {
    /// The channel it came on.
    public var channelID: UInt32
    /// The template of its job (0 for a custom job).
    public var templateID: UInt64
    /// The full extranonce (channel prefix ‖ rolled part).
    public var extranonce: Extranonce
    /// Header nonce.
    public var nonce: UInt32
    /// Header time.
    public var ntime: UInt32
    /// Header version.
    public var version: UInt32
    /// The header hash.
    public var hash: Hash256
}
