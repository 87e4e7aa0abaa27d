import Glibc
public import Logging
import Synchronization
import Sv2Mining
public import Sv2Bitcoin
public import Sv2Noise
public import Sv2Pool

/// A pool's check of `SetCustomMiningJob` tokens issued by a Job Declaration server in another process (wire it to
/// `Pool.customJobAuthorizer`): the token must be a ``MiningJobToken`` signed by the JD server's authority key, not
/// expired, for the channel's user, not used before, and what it commits to must match the job — for an allocated
/// token the pool's own outputs (then the coinbase must pay the pool, checked here with ``policy``), for a declared
/// one the declared job (version, coinbase fields, outputs). No network round trip.

/// One verifier serves every loop of a pool (`sv2 pool --threads N --jds-authority-key`). ``authorize(_:)`` does
/// everything that needs no shared state without a lock — parsing the token, its signature (the costly part),
/// expiry and user, the job against the token's commitment and the payout policy — so loops check tokens in
/// parallel; only the replay check, the journal record, the remembered id and the counters are under the lock, as
/// one step, so a token spent on one loop is a replay on every other (two loops racing the same token: one wins). A
/// token that fails a lock-free check never reaches the replay memory or the journal. Set the configuration
/// (``policy``, ``maximumRememberedTokens``, ``maximumLifetime``, ``leeway``, ``now``) before the first request;
/// ``now`` is called without the lock, from any loop.
///
/// Single use: the id of every token that passed the signature, expiry and user checks is remembered until it
/// expires (``maximumRememberedTokens`` at most). When that memory is full of live tokens, new ones are refused
/// (``JobDeclarationError/replayMemoryFull``) rather than forgetting one that could then be replayed.
///
/// Across restarts: with a ``journal`` (``UsedTokenJournal``, what `sv2 pool --jds-authority-key` opens in its data
/// directory) every such id is recorded durably **before** the job is let through, and a verifier created on the
/// journal starts with the ids of the previous run that have not expired, so a restarted pool refuses a token used
/// before it stopped. A failed record refuses the job (``JobDeclarationError/usedTokenJournalFailed(_:)``, logged):
/// no job is accepted on a token whose use is not on disk.
public final class MiningJobTokenVerifier: @unchecked Sendable {
    /// The default of ``maximumRememberedTokens`` (and of ``UsedTokenJournal/maximumEntries``).
    public static let defaultMaximumRememberedTokens = 262_144

    /// The JD server's authority public key.
    public let authority: AuthorityPublicKey
    /// The pool outputs an allocated token must commit to (what the JD server hands out with it).
    public let poolOutputs: [TxOutput]
    /// What a custom job's coinbase must pay (the scripts of ``poolOutputs`` by default).
    public var policy: PoolPayoutPolicy
    /// Tokens remembered for the replay check at most (the journal's ``UsedTokenJournal/maximumEntries`` should be
    /// the same: it compacts at twice its bound).
    public var maximumRememberedTokens = MiningJobTokenVerifier.defaultMaximumRememberedTokens
    /// Longest a token may still be valid for (seconds): one expiring later is refused as malformed, so no token
    /// occupies the replay memory longer than this.
    public var maximumLifetime: UInt32 = 86_400
    /// Seconds of clock difference tolerated with the JD server (a token is refused `leeway` seconds after it
    /// expired).
    public var leeway: UInt32 = 10
    /// Unix time in seconds (injectable for tests).
    public var now: () -> UInt64 = { UInt64(Glibc.time(nil)) }
    /// Custom jobs authorized.
    public var authorized: Int { lock.withLock { _ in authorizedCount } }
    /// Refusals by ``JobDeclarationError/name``.
    public var rejections: [String: Int] { lock.withLock { _ in rejectionCounts } }
    // Guarded by `lock`, with `used`, `lastSweep` and the journal: requests may come from several loops at once.
    // Nothing else in a request touches them (see ``authorize(_:)``).
    private let lock = Mutex(())
    private var authorizedCount = 0
    private var rejectionCounts: [String: Int] = [:]

    /// Where spent ids are recorded before a job is let through (`nil`: memory only, forgotten on restart).
    public let journal: (any UsedTokenJournaling)?

    private var used: [UInt64: UInt32] = [:]
    private var lastSweep: UInt64 = 0
    private let logger: Logger

    /// A verifier for tokens of the JD server whose key is `authority`, for a pool paying `poolOutputs` (value 0;
    /// the coinbase revenue goes there). `halvingInterval` turns on the subsidy floor of the payout check. With a
    /// `journal`, the ids it holds from before (not expired) are refused from the start and every new one is
    /// recorded there before its job is accepted.
    public init(
        authority: AuthorityPublicKey, poolOutputs: [TxOutput], halvingInterval: UInt32? = nil,
        journal: (any UsedTokenJournaling)? = nil, logger: Logger = Logger(label: "stratum.pool.job-tokens")
    ) {
        self.authority = authority
        self.poolOutputs = poolOutputs
        policy = PoolPayoutPolicy(payoutScripts: Set(poolOutputs.map(\.script)), halvingInterval: halvingInterval)
        self.journal = journal
        self.logger = logger
        used = journal?.takeRemembered() ?? [:]
    }

    /// Tokens remembered now (used and not expired, as of the last sweep).
    public var rememberedTokenCount: Int { lock.withLock { _ in used.count } }

    /// `nil` when the custom job may be mined, else the `SetCustomMiningJob.Error` code (counted by reason).
    public func authorize(_ request: CustomMiningJobRequest) -> String? {
        // Lock-free: a verdict that depends on the token and the request alone (signature first: what a forged
        // token is refused as, whatever else is wrong with it).
        let token: MiningJobToken
        let now: UInt64
        let jobError: JobDeclarationError?
        do throws(JobDeclarationError) {
            token = try MiningJobToken(parsing: request.token)
            guard token.isSigned(by: authority) else { throw .badTokenSignature }
            now = self.now()
            guard now <= UInt64(token.expires) + UInt64(leeway) else { throw .expiredToken }
            guard UInt64(token.expires) <= now + UInt64(maximumLifetime) else { throw .malformedToken }
            guard token.isFor(user: request.userIdentity) else { throw .foreignToken }
            jobError = checkJob(request, token: token)
        } catch {
            return refused(error)
        }
        return lock.withLock { _ in
            do throws(JobDeclarationError) {
                try spend(token, now: now)
                // Spent even when the job is refused: as the sibling JD server does.
                if let jobError { throw jobError }
                authorizedCount += 1
                return nil
            } catch {
                rejectionCounts[error.name, default: 0] += 1
                return error.code
            }
        }
    }

    /// Counts a refusal decided without the lock; its `SetCustomMiningJob.Error` code.
    private func refused(_ error: JobDeclarationError) -> String {
        lock.withLock { _ in rejectionCounts[error.name, default: 0] += 1 }
        return error.code
    }

    /// Whether the job is what the token commits to and pays the pool (`nil`), else why not. Needs no shared state.
    private func checkJob(_ request: CustomMiningJobRequest, token: MiningJobToken) -> JobDeclarationError? {
        switch token.kind {
        case .allocated:
            guard token.jobCommitment == MiningJobToken.allocatedCommitment(outputs: poolOutputs) else {
                return .outputsMismatch  // a token for another pool's outputs
            }
        case .declared:
            guard token.jobCommitment == MiningJobToken.declaredCommitment(of: request) else { return .outputsMismatch }
        }
        let parts = request.coinbaseParts(extranonceLength: 0, witness: true)
        do throws(JobDeclarationError) {
            try policy.check(
                outputs: request.coinbaseTxOutputs, height: DeclaredCoinbase.bip34Height(request.coinbasePrefix),
                size: parts.prefix.count + Extranonce.maxLength + parts.suffix.count)
        } catch {
            return error
        }
        return nil
    }

    /// The single-use step, under the lock: refuses an id already spent (or a full memory), else records it in the
    /// journal and remembers it. Check and record are one step, so of two loops racing one token only one gets
    /// past here.
    private func spend(_ token: MiningJobToken, now: UInt64) throws(JobDeclarationError) {
        guard used[token.id] == nil else { throw .replayedToken }
        if used.count >= maximumRememberedTokens { sweep(now: now) }
        guard used.count < maximumRememberedTokens else { throw .replayMemoryFull }
        // On disk first: a restarted pool must find every id a job was accepted on.
        try record(token, now: now)
        used[token.id] = token.expires
    }

    /// Records the token's id in the journal (compacting it first when it asks for it); a failure refuses the job.
    private func record(_ token: MiningJobToken, now: UInt64) throws(JobDeclarationError) {
        guard let journal else { return }
        do throws(UsedTokenJournalError) {
            if journal.needsCompaction {
                sweep(now: now, always: true)
                try journal.compact(keeping: used)
            }
            try journal.append(id: token.id, expires: token.expires)
        } catch {
            logger.error("custom job refused: the use of mining job token \(token.id) could not be recorded: \(error)")
            throw .usedTokenJournalFailed(error)
        }
    }

    /// Forgets expired ids; at most once a second unless `always` (a full memory of live tokens costs one sweep per
    /// second, not one per request).
    private func sweep(now: UInt64, always: Bool = false) {
        guard always || now > lastSweep else { return }
        lastSweep = now
        used = used.filter { UInt64($0.value) + UInt64(leeway) >= now }
    }
}
