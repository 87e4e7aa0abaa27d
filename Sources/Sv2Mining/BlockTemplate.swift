/// A block template as Template Distribution's `NewTemplate` describes it (field for field).
public struct BlockTemplate: Hashable, Sendable {
    /// Template id, referenced by `SetNewPrevHash` and `SubmitSolution`.
    public var templateID: UInt64
    /// True when the template is for a future chain tip (activated by a later `SetNewPrevHash`).
    public var futureTemplate: Bool
    /// Header version.
    public var version: UInt32
    /// Coinbase transaction version.
    public var coinbaseTxVersion: UInt32
    /// Start of the coinbase scriptSig (BIP34 height push).
    public var coinbasePrefix: [UInt8]
    /// Coinbase input sequence.
    public var coinbaseTxInputSequence: UInt32
    /// Satoshis (subsidy + fees) left for the pool's outputs.
    public var coinbaseTxValueRemaining: UInt64
    /// Number of outputs in ``coinbaseTxOutputs``.
    public var coinbaseTxOutputsCount: UInt32
    /// Outputs the coinbase must contain, serialized back to back without a count.
    public var coinbaseTxOutputs: [UInt8]
    /// Coinbase lock time.
    public var coinbaseTxLocktime: UInt32
    /// Merkle path of the coinbase, deepest sibling first.
    public var merklePath: [Hash256]

    /// Creates a template from its fields.
    public init(
        templateID: UInt64, futureTemplate: Bool, version: UInt32, coinbaseTxVersion: UInt32,
        coinbasePrefix: [UInt8], coinbaseTxInputSequence: UInt32, coinbaseTxValueRemaining: UInt64,
        coinbaseTxOutputsCount: UInt32, coinbaseTxOutputs: [UInt8], coinbaseTxLocktime: UInt32,
        merklePath: [Hash256]
    ) {
        self.templateID = templateID
        self.futureTemplate = futureTemplate
        self.version = version
        self.coinbaseTxVersion = coinbaseTxVersion
        self.coinbasePrefix = coinbasePrefix
        self.coinbaseTxInputSequence = coinbaseTxInputSequence
        self.coinbaseTxValueRemaining = coinbaseTxValueRemaining
        self.coinbaseTxOutputsCount = coinbaseTxOutputsCount
        self.coinbaseTxOutputs = coinbaseTxOutputs
        self.coinbaseTxLocktime = coinbaseTxLocktime
        self.merklePath = merklePath
    }
}
