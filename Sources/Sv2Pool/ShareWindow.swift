import Sv2Mining

/// One closed accounting window of a ``Pool``: what its channels accepted and rejected since the previous window,
/// and what happened to found blocks meanwhile. The pool hands it to its ``PoolLedger`` at every tick (so a
/// window spans ``PoolConfiguration/ackInterval``); the shares it holds are acknowledged once the ledger reports
/// the window committed.
public struct ShareWindow: Sendable, Hashable {
    /// Increases by one per window handed to the ledger (per pool instance, from 1); commits are reported by it.
    public var sequence: UInt64
    /// Unix time of the window's close in milliseconds, strictly increasing per pool: the window's key.
    public var endMilliseconds: UInt64
    /// One row per (user identity, channel) that had a share accepted or rejected in the window.
    public var rows: [ShareWindowRow]
    /// Block events (found, submitted, settled), in the order they happened.
    public var blocks: [ShareWindowBlock]

    /// Creates a window.
    public init(sequence: UInt64, endMilliseconds: UInt64, rows: [ShareWindowRow], blocks: [ShareWindowBlock]) {
        self.sequence = sequence
        self.endMilliseconds = endMilliseconds
        self.rows = rows
        self.blocks = blocks
    }
}

/// The shares of one (user identity, channel) within a ``ShareWindow``.
public struct ShareWindowRow: Sendable, Hashable {
    /// The channel's user identity (`""` for shares on a channel that does not exist).
    public var userIdentity: String
    /// The channel id (0 for shares on a channel that does not exist).
    public var channelID: UInt32
    /// Shares accepted (blocks included).
    public var accepted: UInt64
    /// Sum of the difficulty each accepted share was validated at (``ShareCredit/difficulty``).
    public var difficulty: Double
    /// Sum of the wire credit (``ShareCredit/weight``, as in `new_shares_sum`), saturating.
    public var credit: UInt64
    /// Rejected shares by reason, indexed by ``ShareWindowRow/reasons`` (all zero when nothing was rejected).
    public var rejected: [UInt64]

    /// The rejection reasons, in the order of ``rejected``: every ``ShareRejection`` code, then
    /// ``Pool/accountingBacklogCode``.
    public static let reasons: [String] = ShareRejection.allCases.map(\.code) + [Pool.accountingBacklogCode]

    /// Creates a row.
    public init(
        userIdentity: String, channelID: UInt32, accepted: UInt64, difficulty: Double, credit: UInt64,
        rejected: [UInt64]
    ) {
        self.userIdentity = userIdentity
        self.channelID = channelID
        self.accepted = accepted
        self.difficulty = difficulty
        self.credit = credit
        self.rejected = rejected
    }

    /// Total rejected shares.
    public var rejectedTotal: UInt64 { rejected.reduce(0) { ShareCredit.adding($1, to: $0) } }
}

/// A found block's state change, as the ledger records it (one row per block, updated in place).
public struct ShareWindowBlock: Sendable, Hashable {
    /// The block hash in explorer byte order (hex).
    public var hash: String
    /// The new state: `found`, `submitted`, `acknowledged`, `superseded` or `failed` (``BlockJournalEntry/Event``).
    public var state: String
    /// Unix time of the event in seconds.
    public var time: UInt64
    /// Set on `found`: the block height (BIP34), when known.
    public var height: UInt32?
    /// Set on `found`: the user identity of the channel that found it.
    public var userIdentity: String?
    /// Set on `found`: the channel id.
    public var channelID: UInt32?
    /// Set on `found`: the coinbase value in satoshis (subsidy + fees: the template's `coinbase_tx_value_remaining`).
    public var reward: UInt64?

    /// Creates a block event.
    public init(
        hash: String, state: String, time: UInt64, height: UInt32? = nil, userIdentity: String? = nil,
        channelID: UInt32? = nil, reward: UInt64? = nil
    ) {
        self.hash = hash
        self.state = state
        self.time = time
        self.height = height
        self.userIdentity = userIdentity
        self.channelID = channelID
        self.reward = reward
    }
}

extension ShareRejection {
    /// The position of this reason in ``ShareWindowRow/reasons`` (declaration order, as `allCases`).
    var reasonIndex: Int {
        switch self {
        case .invalidChannelID: 0
        case .invalidShare: 1
        case .ntimeTooFarInFuture: 2
        case .staleShare: 3
        case .invalidJobID: 4
        case .difficultyTooLow: 5
        case .duplicateShare: 6
        case .badExtranonceSize: 7
        case .versionRollingNotAllowed: 8
        case .invalidNonRollableVersionBit: 9
        }
    }
}
