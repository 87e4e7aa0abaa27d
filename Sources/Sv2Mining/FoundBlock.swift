public import Sv2Bitcoin

/// A share that met the network target, as the pool reports it (see ``Pool/onBlockFound``).
public struct FoundBlock: Sendable, Hashable {
    /// The block hash (raw order; `description` shows explorer order).
    public var hash: Hash256
    /// The block header.
    public var header: BlockHeader
    /// The template it was built on.
    public var templateID: UInt64
    /// The channel whose share it was.
    public var channelID: UInt32
    /// The user identity of that channel.
    public var userIdentity: String
    /// The full coinbase transaction, with its BIP141 witness (as `SubmitSolution` carries it).
    public var coinbaseTransaction: [UInt8]

    /// Creates a record.
    public init(
        hash: Hash256, header: BlockHeader, templateID: UInt64, channelID: UInt32, userIdentity: String,
        coinbaseTransaction: [UInt8]
    ) {
        self.hash = hash
        self.header = header
        self.templateID = templateID
        self.channelID = channelID
        self.userIdentity = userIdentity
        self.coinbaseTransaction = coinbaseTransaction
    }
}
