public import Sv2Codec

/// Turns found shares into `SubmitSharesStandard` / `SubmitSharesExtended` with consecutive sequence numbers, and
/// keeps the count of submissions not yet acknowledged.
///
/// Sequence numbers start at 0 and wrap modulo 2^32; the upstream echoes them in `SubmitShares.Success`
/// (`last_sequence_number`, batched) and `SubmitShares.Error`.
public struct ShareBuilder: Sendable, Hashable {
    /// The sequence number of the next share.
    public private(set) var nextSequenceNumber: UInt32
    /// Shares built so far.
    public private(set) var built: UInt64 = 0
    /// Shares acknowledged (accepted or rejected) so far.
    public private(set) var acknowledged: UInt64 = 0

    /// Creates a builder whose first share gets `firstSequenceNumber`.
    public init(firstSequenceNumber: UInt32 = 0) {
        nextSequenceNumber = firstSequenceNumber
    }

    /// Shares submitted and not yet acknowledged.
    public var pending: UInt64 { built &- Swift.min(acknowledged, built) }

    /// A `SubmitSharesStandard` for `share` on `channelID`.
    public mutating func standard(channelID: UInt32, share: Share) -> SubmitSharesStandard {
        SubmitSharesStandard(
            channelID: channelID, sequenceNumber: take(), jobID: share.jobID, nonce: share.nonce, ntime: share.ntime,
            version: share.version)
    }

    /// A `SubmitSharesExtended` for `share` (with its rolled extranonce) on `channelID`.
    public mutating func extended(channelID: UInt32, share: Share) -> SubmitSharesExtended {
        SubmitSharesExtended(
            channelID: channelID, sequenceNumber: take(), jobID: share.jobID, nonce: share.nonce, ntime: share.ntime,
            version: share.version, extranonce: share.extranonce.bytes)
    }

    /// Records acknowledgements: `count` shares accepted by a `SubmitShares.Success`, or 1 per `SubmitShares.Error`.
    public mutating func acknowledge(_ count: UInt32) {
        acknowledged &+= UInt64(count)
    }

    private mutating func take() -> UInt32 {
        defer {
            nextSequenceNumber &+= 1
            built &+= 1
        }
        return nextSequenceNumber
    }
}
