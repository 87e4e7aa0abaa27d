public import Sv2Bitcoin

/// The verdict on one share.
public enum ShareOutcome: Hashable, Sendable {
    /// Meets the channel target (but not the network target).
    case accepted(hash: Hash256)
    /// Meets the network target: a block. Also counts as an accepted share.
    case blockFound(hash: Hash256, header: BlockHeader)
    /// Rejected; send `SubmitShares.Error` with the rejection's code.
    case rejected(ShareRejection)

    /// True for ``accepted(hash:)`` and ``blockFound(hash:header:)``.
    public var isAccepted: Bool {
        if case .rejected = self { false } else { true }
    }
}
