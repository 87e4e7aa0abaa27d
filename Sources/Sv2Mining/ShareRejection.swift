/// Why a share was rejected; ``code`` is the `SubmitShares.Error.error_code` string SRI uses.
public enum ShareRejection: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// The channel does not exist (checked by the channel layer, before a validator is involved).
    case invalidChannelID = "invalid-channel-id"
    /// Malformed share not covered by a more specific code (here: `ntime` below the job's `min_ntime`, as SRI).
    case invalidShare = "invalid-share"
    /// `ntime` beyond the consensus limit: more than 2 hours past the validator's current time (a block with it
    /// would be refused by every node, so the share proves no useful work).
    case ntimeTooFarInFuture = "ntime-too-far-in-future"
    /// The job belonged to an earlier chain tip.
    case staleShare = "stale-share"
    /// The job id was never issued on this channel.
    case invalidJobID = "invalid-job-id"
    /// The header hash is above the channel target.
    case difficultyTooLow = "difficulty-too-low"
    /// The same share was already accepted.
    case duplicateShare = "duplicate-share"
    /// The submitted extranonce is not the channel's rollable extranonce size.
    case badExtranonceSize = "bad-extranonce-size"
    /// The version differs from the job's although the job does not allow version rolling.
    case versionRollingNotAllowed = "version-rolling-not-allowed"
    /// The version changes bits outside the job's version-rolling mask.
    case invalidNonRollableVersionBit = "invalid-non-rollable-version-bit"

    /// The wire error code.
    public var code: String { rawValue }

    public var description: String { rawValue }
}
