import Sv2Service
import Sv2Bitcoin
import Sv2Mining

/// One open standard or extended channel of a ``Pool`` (server side).
struct PoolChannel {
    /// Which jobs the channel gets.
    enum Kind: Sendable, Hashable {
        /// Header-only mining: `NewMiningJob` with a merkle root computed for this channel.
        case standard
        /// `NewExtendedMiningJob`; the channel rolls `rollableLength` extranonce bytes.
        case extended
    }

    /// A job sent on this channel and the template it came from (for solutions and future-job activation).
    struct JobRecord {
        var jobID: UInt32 = 0
        var templateID: UInt64 = 0
        var isFuture = false
        var isValid = false
    }

    /// A custom job (`SetCustomMiningJob`) accepted on this channel: what a block found on it needs.
    struct CustomJobRecord {
        var jobID: UInt32
        /// The coinbase with its BIP141 fields, around the full extranonce.
        var coinbase: CoinbaseParts
    }

    static let jobMemory = 16

    let id: UInt32
    let connection: Sv2ConnectionID
    let kind: Kind
    let userIdentity: String
    /// The prefix taken from the allocator (released on close).
    var allocatedPrefix: Extranonce
    /// What the channel's coinbase carries before the rolled part: for standard channels the whole extranonce
    /// (allocated prefix padded with zeros), for extended channels the allocated prefix.
    var extranoncePrefix: Extranonce
    /// Extranonce bytes the channel rolls (0 for standard channels).
    let rollableLength: Int
    /// The group channel whose jobs this (standard) channel gets, or 0: jobs addressed to the channel itself.
    var groupID: UInt32 = 0
    var vardiff: Vardiff
    var validator: ShareValidator

    // Acknowledgement batching.
    var pendingCount: UInt32 = 0
    var pendingSum: UInt64 = 0
    var lastSequence: UInt32 = 0
    var ackQueued = false

    // Accounting (only with a ledger): this window's totals, and the acknowledgement sealed into windows that are
    // handed to the ledger but not committed yet (released by ``Pool/windowsCommitted(through:)``).
    var windowAccepted: UInt64 = 0
    var windowDifficulty: Double = 0
    var windowCredit: UInt64 = 0
    /// Rejections of this window by ``ShareWindowRow/reasons`` index (allocated at open, not per share).
    var windowRejected: [UInt64]
    var windowQueued = false
    var sealedCount: UInt32 = 0
    var sealedSum: UInt64 = 0
    var sealedSequence: UInt32 = 0
    /// The window holding the newest sealed share (0: nothing sealed).
    var sealedWindow: UInt64 = 0

    var jobs: [JobRecord]
    /// Custom jobs, oldest first (at most ``jobMemory``; empty unless the channel's connection selects its work).
    var customJobs: [CustomJobRecord] = []
    /// The channel's connection set REQUIRES_WORK_SELECTION: it mines its custom jobs only, none of the pool's
    /// (the pool's jobs would retire them on every chain tip).
    var selectsWork = false
    /// The previous block of the newest custom job (a custom job on another one starts a new chain tip).
    var customPrevHash: Hash256?
    var nextJobSlot = 0
    var accepted: UInt64 = 0
    var rejected: UInt64 = 0
    /// Sum of the difficulties accepted shares were validated at (lifetime).
    var acceptedDifficulty: Double = 0
    /// Whether the user's per-user totals are kept apart (see `UserShareBook`).
    var userTracked = false

    init(
        id: UInt32, connection: Sv2ConnectionID, kind: Kind, userIdentity: String, allocatedPrefix: Extranonce,
        extranoncePrefix: Extranonce, rollableLength: Int, vardiff: Vardiff, validator: ShareValidator,
        jobMemory: Int = PoolChannel.jobMemory
    ) {
        self.id = id
        self.connection = connection
        self.kind = kind
        self.userIdentity = userIdentity
        self.allocatedPrefix = allocatedPrefix
        self.extranoncePrefix = extranoncePrefix
        self.rollableLength = rollableLength
        self.vardiff = vardiff
        self.validator = validator
        self.jobs = [JobRecord](repeating: JobRecord(), count: Swift.max(1, jobMemory))
        self.windowRejected = [UInt64](repeating: 0, count: ShareWindowRow.reasons.count)
    }

    /// The target new jobs get (shares are credited at their own job's target: ``ShareJob/credit``).
    var target: Target { vardiff.target }

    /// The difficulty of ``target`` (for logs).
    var difficulty: Double { vardiff.target.difficulty }

    mutating func record(jobID: UInt32, templateID: UInt64, isFuture: Bool) {
        jobs[nextJobSlot] = JobRecord(jobID: jobID, templateID: templateID, isFuture: isFuture, isValid: true)
        nextJobSlot = (nextJobSlot + 1) % jobs.count
    }

    /// The template of a recent job.
    func templateID(ofJob jobID: UInt32) -> UInt64? {
        for record in jobs where record.isValid && record.jobID == jobID { return record.templateID }
        return nil
    }

    /// The custom job `jobID`, if it is one of the recent ones.
    func customJob(_ jobID: UInt32) -> CustomJobRecord? {
        customJobs.last { $0.jobID == jobID }
    }

    /// Forgets which jobs were future jobs (their coinbase was rebuilt: they must not be activated any more).
    mutating func forgetFutureJobs() {
        for index in jobs.indices { jobs[index].isFuture = false }
    }

    /// The future job sent for `templateID`, if any.
    func futureJob(for templateID: UInt64) -> UInt32? {
        for record in jobs where record.isValid && record.isFuture && record.templateID == templateID {
            return record.jobID
        }
        return nil
    }
}
