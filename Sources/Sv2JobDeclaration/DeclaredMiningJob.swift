public import Sv2Bitcoin

/// A mining job a Job Declaration client declared and the server accepted (or is still checking).
public struct DeclaredMiningJob: Sendable, Hashable {
    /// The token the job was declared with (from `AllocateMiningJobToken.Success`).
    public var token: [UInt8]
    /// Header version.
    public var version: UInt32
    /// `coinbase_tx_prefix` (with BIP141 fields).
    public var coinbasePrefix: [UInt8]
    /// `coinbase_tx_suffix` (with BIP141 fields).
    public var coinbaseSuffix: [UInt8]
    /// The block's transactions (coinbase excluded) by wtxid, in block order.
    public var wtxids: [Hash256]
    /// `excess_data`.
    public var excessData: [UInt8]
    /// The user identifier the declaration's token was allocated to.
    public var user: String

    /// Creates a job from its parts.
    public init(
        token: [UInt8], version: UInt32, coinbasePrefix: [UInt8], coinbaseSuffix: [UInt8], wtxids: [Hash256],
        excessData: [UInt8] = [], user: String = ""
    ) {
        self.user = user
        self.token = token
        self.version = version
        self.coinbasePrefix = coinbasePrefix
        self.coinbaseSuffix = coinbaseSuffix
        self.wtxids = wtxids
        self.excessData = excessData
    }
}
