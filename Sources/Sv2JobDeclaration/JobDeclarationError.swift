/// Why a Job Declaration server refused a token, a declared job or a custom job. Each case is counted (by
/// ``name``) and answered with ``code`` on the wire; only the offending request is refused.
public enum JobDeclarationError: Error, Hashable, Sendable {
    /// The token was never handed out (or is long forgotten).
    case unknownToken
    /// The token was already used for a declaration or a custom job.
    case replayedToken
    /// The token was handed out to another connection (or another user) than the one using it.
    case foreignToken
    /// The coinbase does not parse as a one-input transaction with an extranonce of at most 32 bytes.
    case invalidCoinbase(String)
    /// The pool's outputs get less than the coinbase's revenue (or the block subsidy): `paid` of `announced`.
    case underpaysPool(paid: UInt64, announced: UInt64)
    /// The coinbase is larger than the limit (bytes).
    case coinbaseTooLarge(size: Int, limit: Int)
    /// The coinbase's outputs carry more signature operations than the limit.
    case tooManySigops(count: Int, limit: Int)
    /// More transactions than a block can hold (or the configured limit).
    case tooManyTransactions(count: Int, limit: Int)
    /// Provided transactions add up to more bytes than a block can hold.
    case transactionsTooLarge(bytes: Int, limit: Int)
    /// Provided transactions do not match the wtxids declared at the requested positions.
    case missingTransactions
    /// Too many declarations of one connection wait for `ProvideMissingTransactions.Success`.
    case tooManyPendingDeclarations
    /// A custom job's outputs differ from the ones its declared job's coinbase carries (or, for a signed token, the
    /// job differs from what the token commits to).
    case outputsMismatch
    /// A token that is not a ``MiningJobToken`` (length, version, kind), or one valid for longer than the verifier
    /// allows.
    case malformedToken
    /// A ``MiningJobToken`` whose signature is not the JD server's (forged, tampered with, or another key's).
    case badTokenSignature
    /// A ``MiningJobToken`` past its expiry.
    case expiredToken
    /// The verifier's replay memory is full of tokens that have not expired yet: no new token is taken until some
    /// expire (a bound, never an eviction that would let a replay through).
    case replayMemoryFull
    /// The verifier could not record the token's use in its ``UsedTokenJournal`` (disk full, I/O error): the job is
    /// refused rather than accepted on a use a restart would forget.
    case usedTokenJournalFailed(UsedTokenJournalError)

    /// The error code sent in `DeclareMiningJob.Error` / `SetCustomMiningJob.Error` (SRI's codes where one fits).
    public var code: String {
        switch self {
        case .unknownToken, .replayedToken, .foreignToken, .malformedToken, .badTokenSignature, .expiredToken:
            "invalid-mining-job-token"
        case .replayMemoryFull, .usedTokenJournalFailed: "internal-error"
        case .invalidCoinbase, .underpaysPool, .coinbaseTooLarge, .tooManySigops: "invalid-coinbase-tx"
        case .outputsMismatch: "invalid-coinbase-tx-outputs"
        case .tooManyTransactions, .transactionsTooLarge: "invalid-job"
        case .missingTransactions: "missing-txs"
        case .tooManyPendingDeclarations: "too-many-pending-declarations"
        }
    }

    /// A stable name per case, for counters and logs.
    public var name: String {
        switch self {
        case .unknownToken: "unknown-token"
        case .replayedToken: "replayed-token"
        case .foreignToken: "foreign-token"
        case .invalidCoinbase: "invalid-coinbase"
        case .underpaysPool: "underpays-pool"
        case .coinbaseTooLarge: "coinbase-too-large"
        case .tooManySigops: "too-many-sigops"
        case .tooManyTransactions: "too-many-transactions"
        case .transactionsTooLarge: "transactions-too-large"
        case .missingTransactions: "missing-transactions"
        case .tooManyPendingDeclarations: "too-many-pending-declarations"
        case .outputsMismatch: "outputs-mismatch"
        case .malformedToken: "malformed-token"
        case .badTokenSignature: "bad-token-signature"
        case .expiredToken: "expired-token"
        case .replayMemoryFull: "replay-memory-full"
        case .usedTokenJournalFailed: "used-token-journal-failed"
        }
    }

    /// Human-readable details (sent as `error_details`).
    public var details: String {
        switch self {
        case .invalidCoinbase(let reason): "invalid coinbase: \(reason)"
        case .underpaysPool(let paid, let announced): "pool outputs get \(paid) of \(announced) sat"
        case .coinbaseTooLarge(let size, let limit): "coinbase is \(size) bytes, limit \(limit)"
        case .tooManySigops(let count, let limit): "coinbase outputs have \(count) sigops, limit \(limit)"
        case .tooManyTransactions(let count, let limit): "\(count) transactions, limit \(limit)"
        case .transactionsTooLarge(let bytes, let limit): "transactions total \(bytes) bytes, limit \(limit)"
        // The path and errno stay in the pool's log, not on the wire.
        case .usedTokenJournalFailed: name
        default: name
        }
    }
}
