/// The error codes Sv1 servers answer with (`"error": [code, "message", null]`), as common firmware and pools
/// (cgminer, ckpool, SRI) use them.
public enum Sv1ErrorCode: Int, Sendable, Hashable {
    /// Anything else (malformed request, unknown method, upstream unavailable).
    case other = 20
    /// The job is unknown or stale.
    case jobNotFound = 21
    /// The share was already submitted.
    case duplicateShare = 22
    /// The share's hash does not meet the difficulty.
    case lowDifficulty = 23
    /// The worker is not authorized on this connection.
    case unauthorized = 24
    /// `mining.subscribe` has not succeeded yet.
    case notSubscribed = 25
}
