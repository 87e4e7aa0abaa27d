public import Sv2Codec
public import Sv2Bitcoin

/// A new chain tip as Template Distribution's `SetNewPrevHash` describes it (field for field).
public struct TemplateChainTip: Hashable, Sendable {
    /// The (future) template this tip activates.
    public var templateID: UInt64
    /// Hash of the new best block (raw order): the next block's previous hash.
    public var prevHash: Hash256
    /// Earliest header timestamp to use.
    public var headerTimestamp: UInt32
    /// Network compact target.
    public var nbits: UInt32
    /// Network target (`nbits` expanded).
    public var target: Target

    /// Creates a chain tip from its fields.
    public init(templateID: UInt64, prevHash: Hash256, headerTimestamp: UInt32, nbits: UInt32, target: Target) {
        self.templateID = templateID
        self.prevHash = prevHash
        self.headerTimestamp = headerTimestamp
        self.nbits = nbits
        self.target = target
    }
}

extension TemplateChainTip {
    /// Copies a received Template Distribution `SetNewPrevHash`.
    public init(_ message: TemplateSetNewPrevHashView) {
        self.init(
            templateID: message.templateID, prevHash: WireConversions.hash(message.prevHash),
            headerTimestamp: message.headerTimestamp, nbits: message.nbits,
            target: WireConversions.target(message.target))
    }

    /// The Template Distribution `SetNewPrevHash` message for this tip.
    public var message: TemplateSetNewPrevHash {
        TemplateSetNewPrevHash(
            templateID: templateID, prevHash: WireConversions.u256(prevHash), headerTimestamp: headerTimestamp,
            nbits: nbits, target: WireConversions.u256(target))
    }
}
