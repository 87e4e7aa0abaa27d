public import Sv2Codec
public import Sv2Bitcoin

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

extension BlockTemplate {
    /// The block height the coinbase prefix commits to (BIP34: the scriptSig starts with the height as a minimally
    /// encoded script number), or `nil` when the prefix does not start with such a push.
    public var bip34Height: UInt32? {
        guard let first = coinbasePrefix.first else { return nil }
        switch first {
        case 0x00: return 0
        case 0x51...0x60: return UInt32(first - 0x50)  // OP_1 … OP_16
        case 0x01...0x04:
            let length = Int(first)
            guard coinbasePrefix.count > length else { return nil }
            let bytes = coinbasePrefix[1...length]
            // A script number is little-endian with a sign bit in the top byte; heights are positive.
            guard bytes.last! & 0x80 == 0 else { return nil }
            var height: UInt32 = 0
            for (shift, byte) in bytes.enumerated() { height |= UInt32(byte) << (8 * UInt32(shift)) }
            return height
        default: return nil
        }
    }
}

extension BlockTemplate {
    /// Copies a received `NewTemplate`.
    public init(_ message: NewTemplateView) {
        self.init(
            templateID: message.templateID, futureTemplate: message.futureTemplate, version: message.version,
            coinbaseTxVersion: message.coinbaseTxVersion, coinbasePrefix: Array(message.coinbasePrefix),
            coinbaseTxInputSequence: message.coinbaseTxInputSequence,
            coinbaseTxValueRemaining: message.coinbaseTxValueRemaining,
            coinbaseTxOutputsCount: message.coinbaseTxOutputsCount, coinbaseTxOutputs: Array(message.coinbaseTxOutputs),
            coinbaseTxLocktime: message.coinbaseTxLocktime, merklePath: message.merklePath.map(WireConversions.hash))
    }

    /// The `NewTemplate` message for this template.
    public var message: NewTemplate {
        NewTemplate(
            templateID: templateID, futureTemplate: futureTemplate, version: version,
            coinbaseTxVersion: coinbaseTxVersion, coinbasePrefix: coinbasePrefix,
            coinbaseTxInputSequence: coinbaseTxInputSequence, coinbaseTxValueRemaining: coinbaseTxValueRemaining,
            coinbaseTxOutputsCount: coinbaseTxOutputsCount, coinbaseTxOutputs: coinbaseTxOutputs,
            coinbaseTxLocktime: coinbaseTxLocktime, merklePath: merklePath.map(WireConversions.u256))
    }
}
