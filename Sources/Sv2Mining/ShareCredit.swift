public import Sv2Bitcoin

/// What one accepted share is worth: the difficulty of the target it was **validated against**.
///
/// A pool must credit a share at the target of the job it was checked on, never at the channel's current target:
/// jobs made before a retarget stay valid, so crediting at the current target lets a client open at an easy target,
/// ask for a hard one with `UpdateChannel`, and keep submitting easy shares on the old job at the new price. Each
/// ``ShareJob`` therefore carries its own credit, fixed when the job is made.
public struct ShareCredit: Sendable, Hashable {
    /// `difficultyOne / target` of the job's target (fractional below 1).
    public let difficulty: Double
    /// The difficulty as acknowledged on the wire in `new_shares_sum`: rounded, at least 1, at most 2^63 so that
    /// sums of a few of them cannot wrap (sums use ``adding(_:to:)`` anyway).
    public let weight: UInt64

    /// The credit of a share validated against `target`.
    public init(target: Target) {
        difficulty = target.difficulty
        weight = UInt64(Swift.min(Swift.max(difficulty.rounded(), 1), 0x1p63))
    }

    /// `sum + weight`, saturating at `UInt64.max` instead of wrapping: a reported sum is never smaller than the
    /// work it covers, and never wraps round to a small number.
    @inlinable public static func adding(_ weight: UInt64, to sum: UInt64) -> UInt64 {
        let (total, overflow) = sum.addingReportingOverflow(weight)
        return overflow ? .max : total
    }
}
