public import Sv2Codec
public import Sv2Bitcoin
import Glibc
import Sv2Mining
public import Sv2Noise
public import Sv2Pool
public import Sv2Service

/// Job Declaration server state (JDS): hands out mining job tokens bound to the connection (and user) that asked
/// for them, checks declared jobs (token, coinbase paying the pool, size and sigop limits, transactions it knows or
/// gets through `ProvideMissingTransactions`), checks the token and payout of the pool's custom jobs
/// (``authorize(_:)``, wired to `Pool.customJobAuthorizer`) and hands pushed solutions on. Loop thread only;
/// `JobDeclaratorServerHandler` forwards the messages here.
///
/// Tokens are single-use: a token allocated with `AllocateMiningJobToken` names one declaration or one custom job
/// (coinbase-only mode); the token of a `DeclareMiningJob.Success` names one custom job. A token used twice is
/// ``JobDeclarationError/replayedToken``, one from another connection ``JobDeclarationError/foreignToken``, any
/// other ``JobDeclarationError/unknownToken``; each is counted and refused without closing anything. Every map is
/// bounded (see the `maximum…` properties).
///
/// Every token is a ``MiningJobToken`` signed with ``signingKey`` (valid ``tokenLifetime`` seconds, bound to the
/// user, committing to the pool outputs or to the declared job), so a pool in another process can check it with a
/// ``MiningJobTokenVerifier`` and the public key alone; a sibling pool keeps using ``authorize(_:)``.
public final class JobDeclaratorServer {
    /// Pool outputs every token comes with (`coinbase_tx_outputs`; the first is the pool payout).
    public let coinbaseOutputs: [TxOutput]
    /// What the coinbase of every job must pay (the scripts of ``coinbaseOutputs`` by default).
    public var policy: PoolPayoutPolicy
    /// Counters.
    public private(set) var statistics = JobDeclaratorStatistics()
    /// Called with every pushed solution and the job most recently accepted on that connection (the pool or an
    /// operator may propagate the block too).
    public var onSolution: ((PushSolution, DeclaredMiningJob?) -> Void)?
    /// Called with every pushed solution and the jobs recently accepted on that connection, most recent first (a
    /// block found just before the next declaration was accepted solves the previous job): what assembles and
    /// submits the block (`JobDeclarationBlockSubmitter`).
    public var onPushedSolution: ((PushSolution, [DeclaredMiningJob], Sv2ConnectionID) -> Void)?
    /// Looks transactions the mempool view lacks up elsewhere (Bitcoin Core's mempool with `--rpc`): called with the
    /// wtxids of a declaration's missing transactions; `completion` (on the loop thread, later) gets those found.
    /// Only the ones still missing are then asked of the JD client with `ProvideMissingTransactions`.
    public var transactionLookup: ((_ wtxids: [Hash256], _ completion: @escaping ([[UInt8]]) -> Void) -> Void)?
    /// Accepted jobs per connection kept for pushed solutions (``onPushedSolution``).
    public var maximumRecentJobsPerConnection = 4
    /// Unused tokens one connection may hold; one more `AllocateMiningJobToken` closes the connection (the message has
    /// no error answer). A JD client keeps a few in reserve.
    public var maximumTokensPerConnection = 64
    /// Declarations of one connection waiting for `ProvideMissingTransactions.Success`; one more is answered
    /// `DeclareMiningJob.Error` `too-many-pending-declarations`.
    public var maximumPendingDeclarationsPerConnection = 16
    /// Accepted jobs kept for custom jobs to name (oldest forgotten first).
    public var maximumDeclaredJobs = 4_096
    /// Used tokens remembered to tell a replay from an unknown token (oldest forgotten first).
    public var maximumSpentTokens = 65_536
    /// Most transactions a declared job may list.
    public var maximumTransactions = 20_000
    /// Most bytes of transactions one `ProvideMissingTransactions.Success` may carry (a block's worth).
    public var maximumProvidedBytes = 4_000_000
    /// Bytes of transactions the mempool view keeps (oldest dropped first).
    public var maximumMempoolBytes = 64 << 20
    /// The key every token is signed with (pools in other processes are configured with its public key).
    public let signingKey: AuthorityKeyPair
    /// Seconds a token stays valid after it was handed out (a JD client keeps a few in reserve: an hour by default).
    public var tokenLifetime: UInt32 = 3_600
    /// Unix time in seconds (injectable for tests).
    public var now: () -> UInt64 = { UInt64(Glibc.time(nil)) }

    private var mempool: [Hash256: [UInt8]] = [:]
    private var mempoolOrder: [Hash256] = []
    private var mempoolHead = 0
    private var mempoolBytes = 0
    private var declaredJobs: [[UInt8]: DeclaredMiningJob] = [:]
    private var declaredOrder: [[UInt8]] = []
    private var declaredHead = 0
    /// Tokens handed out and not used yet: their connection and user.
    private var issued: [[UInt8]: (connection: Sv2ConnectionID, user: String)] = [:]
    private var spent: Set<[UInt8]> = []
    private var spentOrder: [[UInt8]] = []
    private var spentHead = 0
    private var connections: [Sv2ConnectionID: ConnectionState] = [:]
    private var nextToken: UInt64 = 1
    private let tokenSalt: UInt64

    private struct ConnectionState {
        var tokens: Set<[UInt8]> = []
        var pending: [UInt32: (job: DeclaredMiningJob, missing: [UInt16])] = [:]
        var lastAccepted: DeclaredMiningJob?
        /// Most recent first, at most `maximumRecentJobsPerConnection`.
        var recentAccepted: [DeclaredMiningJob] = []
    }

    /// Creates a server handing out `coinbaseOutputs` with each token, signing tokens with `signingKey` (a fresh
    /// key when `nil`: only a sibling pool can then check them).
    public init(coinbaseOutputs: [TxOutput], halvingInterval: UInt32? = nil, signingKey: AuthorityKeyPair? = nil) {
        self.coinbaseOutputs = coinbaseOutputs
        // A fresh key from the kernel CSPRNG cannot fail short of a broken system.
        self.signingKey = signingKey ?? (try! AuthorityKeyPair.generate())
        policy = PoolPayoutPolicy(payoutScripts: Set(coinbaseOutputs.map(\.script)), halvingInterval: halvingInterval)
        var generator = SystemRandomNumberGenerator()
        tokenSalt = generator.next()
    }

    /// The handler to give an `Sv2Server`.
    public var handler: JobDeclaratorServerHandler { JobDeclaratorServerHandler(server: self) }

    /// The accepted job a token names, if any (and not used by a custom job yet).
    public func declaredJob(token: [UInt8]) -> DeclaredMiningJob? { declaredJobs[token] }

    /// Number of accepted jobs kept.
    public var declaredJobCount: Int { declaredJobs.count }

    /// Number of transactions in the mempool view.
    public var mempoolCount: Int { mempool.count }

    /// Whether the mempool view holds the transaction with this wtxid.
    public func hasTransaction(wtxid: Hash256) -> Bool { mempool[wtxid] != nil }

    /// The transaction with this wtxid in the mempool view, if it holds it.
    public func transaction(wtxid: Hash256) -> [UInt8]? { mempool[wtxid] }

    /// Tokens handed out and not used yet (all connections).
    public var outstandingTokenCount: Int { issued.count }

    /// Adds a transaction to the mempool view (keyed by its wtxid: SHA-256d of the full serialization).
    public func addTransaction(_ transaction: [UInt8]) {
        let wtxid = SHA256d.hash(transaction)
        guard mempool[wtxid] == nil, transaction.count <= maximumMempoolBytes else { return }
        mempool[wtxid] = transaction
        mempoolOrder.append(wtxid)
        mempoolBytes += transaction.count
        while mempoolBytes > maximumMempoolBytes, mempoolHead < mempoolOrder.count {
            if let dropped = mempool.removeValue(forKey: mempoolOrder[mempoolHead]) { mempoolBytes -= dropped.count }
            mempoolHead += 1
        }
        Self.compact(&mempoolOrder, head: &mempoolHead)
    }

    /// Checks the token and payout of a pool's `SetCustomMiningJob` (`Pool.customJobAuthorizer`): `nil` when the
    /// job may be mined, else the error code. Uses the token up.
    public func authorize(_ request: CustomMiningJobRequest) -> String? {
        do throws(JobDeclarationError) {
            try checkCustomJob(request)
            statistics.customJobsAuthorized += 1
            return nil
        } catch {
            count(error)
            statistics.customJobRejections[error.name, default: 0] += 1
            return error.code
        }
    }

    private func checkCustomJob(_ request: CustomMiningJobRequest) throws(JobDeclarationError) {
        let parts = request.coinbaseParts(extranonceLength: 0, witness: true)
        // The extranonce is not known here: at most 32 bytes more.
        let size = parts.prefix.count + Extranonce.maxLength + parts.suffix.count
        let height = DeclaredCoinbase.bip34Height(request.coinbasePrefix)
        if let job = declaredJobs.removeValue(forKey: request.token) {
            // Full-template mode: the declared coinbase was checked; the custom job must carry the same outputs.
            spend(request.token)
            guard let declared = try? DeclaredCoinbase(prefix: job.coinbasePrefix, suffix: job.coinbaseSuffix),
                  declared.outputs == request.coinbaseTxOutputs
            else { throw .outputsMismatch }
            return
        }
        guard let owner = issued[request.token] else {
            throw spent.contains(request.token) ? .replayedToken : .unknownToken
        }
        // Coinbase-only mode: an allocated token, for the user it was allocated to.
        guard owner.user.isEmpty || owner.user == request.userIdentity else { throw .foreignToken }
        issued[request.token] = nil
        connections[owner.connection]?.tokens.remove(request.token)
        spend(request.token)
        try policy.check(outputs: request.coinbaseTxOutputs, height: height, size: size)
    }

    // MARK: Messages (called by JobDeclaratorServerHandler)

    func connectionDidClose(_ connection: Sv2ConnectionID) {
        guard let state = connections.removeValue(forKey: connection) else { return }
        for token in state.tokens { issued[token] = nil }
    }

    func allocate(_ message: AllocateMiningJobTokenView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        if let state = connections[context.connectionID], state.tokens.count >= maximumTokensPerConnection {
            throw .rejected("more than \(maximumTokensPerConnection) unused mining job tokens")
        }
        let user = String(decoding: message.userIdentifier, as: UTF8.self)
        let token = try makeToken(
            .allocated, user: user, commitment: MiningJobToken.allocatedCommitment(outputs: coinbaseOutputs))
        connections[context.connectionID, default: ConnectionState()].tokens.insert(token)
        issued[token] = (context.connectionID, user)
        var outputs: [UInt8] = []
        CompactSize.append(UInt64(coinbaseOutputs.count), to: &outputs)  // CompactSize-prefixed here (notes §8.8)
        for output in coinbaseOutputs { output.serialize(into: &outputs) }
        statistics.tokensAllocated += 1
        try context.send(AllocateMiningJobTokenSuccess(
            requestID: message.requestID, miningJobToken: token, coinbaseTxOutputs: outputs))
    }

    func declare(_ message: DeclareMiningJobView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        statistics.jobsDeclared += 1
        let checked: (job: DeclaredMiningJob, missing: [UInt16])
        do throws(JobDeclarationError) { checked = try check(message, connection: context.connectionID) } catch {
            return try reject(message.requestID, error, context: context)
        }
        guard checked.missing.isEmpty else {
            if let transactionLookup {
                return lookUp(checked.job, requestID: message.requestID, connection: context.connectionID,
                              connections: context.connections, with: transactionLookup)
            }
            statistics.missingTransactionRequests += 1
            return try context.send(ProvideMissingTransactions(
                requestID: message.requestID, unknownTxPositionList: checked.missing))
        }
        try accept(checked.job, requestID: message.requestID, connection: context.connectionID, connections: context.connections)
    }

    /// Asks ``transactionLookup`` for a pending declaration's missing transactions, then accepts it or asks the JD
    /// client for what is still missing. The declaration stays pending (and counted against the connection's bound)
    /// meanwhile; a connection closed or a request answered in between is left alone.
    private func lookUp(
        _ job: DeclaredMiningJob, requestID: UInt32, connection: Sv2ConnectionID, connections: Sv2ServerConnections,
        with lookup: ([Hash256], @escaping ([[UInt8]]) -> Void) -> Void
    ) {
        let wanted = pendingDeclaration(connection, requestID).map { $0.missing.map { job.wtxids[Int($0)] } } ?? []
        lookup(wanted) { [weak self, weak connections] found in
            guard let self, let connections, let pending = self.connections[connection]?.pending[requestID],
                  pending.job.token == job.token
            else { return }
            for transaction in found { self.addTransaction(transaction) }
            let missing = job.wtxids.indices.filter { self.mempool[job.wtxids[$0]] == nil }.map { UInt16($0) }
            do throws(Sv2ServiceError) {
                if missing.isEmpty {
                    self.connections[connection]?.pending[requestID] = nil
                    try self.accept(job, requestID: requestID, connection: connection, connections: connections)
                } else {
                    self.connections[connection]?.pending[requestID] = (job, missing)
                    self.statistics.missingTransactionRequests += 1
                    try connections.send(
                        ProvideMissingTransactions(requestID: requestID, unknownTxPositionList: missing), to: connection)
                }
            } catch {
                // The connection went away meanwhile: nothing to answer.
            }
        }
    }

    private func pendingDeclaration(_ connection: Sv2ConnectionID, _ requestID: UInt32) -> (job: DeclaredMiningJob, missing: [UInt16])? {
        connections[connection]?.pending[requestID]
    }

    /// The declared job and the positions of the transactions the mempool view lacks (then kept pending).
    private func check(
        _ message: DeclareMiningJobView, connection: Sv2ConnectionID
    ) throws(JobDeclarationError) -> (job: DeclaredMiningJob, missing: [UInt16]) {
        let token = Array(message.miningJobToken)
        // Each allocated token is good for one declaration on the connection it was allocated to.
        if connections[connection]?.tokens.remove(token) == nil {
            if issued[token] != nil { throw .foreignToken }
            throw spent.contains(token) || declaredJobs[token] != nil ? .replayedToken : .unknownToken
        }
        let user = issued.removeValue(forKey: token)?.user ?? ""
        spend(token)
        guard message.wtxidList.count <= maximumTransactions else {
            throw .tooManyTransactions(count: message.wtxidList.count, limit: maximumTransactions)
        }
        let prefix = Array(message.coinbaseTxPrefix)
        let suffix = Array(message.coinbaseTxSuffix)
        let coinbase = try DeclaredCoinbase(prefix: prefix, suffix: suffix)
        try policy.check(outputs: coinbase.outputs, height: coinbase.height, size: coinbase.size)
        let job = DeclaredMiningJob(
            token: token, version: message.version, coinbasePrefix: prefix, coinbaseSuffix: suffix,
            wtxids: message.wtxidList.map(JobDeclarationWire.hash), excessData: Array(message.excessData), user: user)
        try Self.checkWitnessCommitment(coinbase, wtxids: job.wtxids)
        let missing = job.wtxids.indices.filter { mempool[job.wtxids[$0]] == nil }.map { UInt16($0) }
        if !missing.isEmpty {
            let pending = connections[connection]?.pending
            guard pending?[message.requestID] != nil || (pending?.count ?? 0) < maximumPendingDeclarationsPerConnection
            else { throw .tooManyPendingDeclarations }
            connections[connection, default: ConnectionState()].pending[message.requestID] = (job, missing)
        }
        return (job, missing)
    }

    /// A declared coinbase that commits to witnesses (BIP141) must commit to the declared ones
    /// (``WitnessCommitment/value(wtxids:reservedValue:)``), checkable from the wtxid list alone, before any
    /// transaction is known. A job that fails it could never make a valid block, so the pool's miners would hash on
    /// it for nothing. (A coinbase without a commitment may only come with witness-free transactions; that needs the
    /// transactions themselves: ``witnessWithoutCommitment(_:coinbase:)``, at acceptance.)
    static func checkWitnessCommitment(_ coinbase: DeclaredCoinbase, wtxids: [Hash256]) throws(JobDeclarationError) {
        switch WitnessCommitment.verdict(
            commitment: coinbase.witnessCommitment, reservedValue: coinbase.witnessReservedValue, wtxids: wtxids)
        {
        case .absent, .matches: return
        case .noReservedValue: throw .invalidCoinbase("witness commitment without a 32-byte witness reserved value")
        case .mismatch: throw .invalidCoinbase("witness commitment does not match the declared transactions")
        }
    }

    /// A job whose coinbase commits to no witnesses may hold only witness-free transactions (BIP141), which needs the
    /// transactions themselves: checked when the job is about to be accepted, all of them known by then.
    private func witnessWithoutCommitment(_ job: DeclaredMiningJob, coinbase: DeclaredCoinbase) -> JobDeclarationError? {
        guard coinbase.witnessCommitment == nil else { return nil }
        for (index, wtxid) in job.wtxids.enumerated() {
            guard let transaction = mempool[wtxid] else { continue }
            if TransactionSerialization.withoutWitness(transaction)?.count != transaction.count {
                return .invalidCoinbase("no witness commitment, but transaction \(index) carries a witness")
            }
        }
        return nil
    }

    func provided(_ message: ProvideMissingTransactionsSuccessView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard let (job, missing) = connections[context.connectionID]?.pending.removeValue(forKey: message.requestID) else {
            throw .rejected("ProvideMissingTransactions.Success for unknown request \(message.requestID)")
        }
        let transactions: [[UInt8]]
        do throws(JobDeclarationError) { transactions = try check(message, job: job, missing: missing) } catch {
            return try reject(message.requestID, error, context: context)
        }
        for transaction in transactions { addTransaction(transaction) }
        statistics.transactionsProvided += transactions.count
        try accept(job, requestID: message.requestID, connection: context.connectionID, connections: context.connections)
    }

    /// The provided transactions, if they are the missing ones and fit a block.
    private func check(
        _ message: ProvideMissingTransactionsSuccessView, job: DeclaredMiningJob, missing: [UInt16]
    ) throws(JobDeclarationError) -> [[UInt8]] {
        var bytes = 0
        var transactions: [[UInt8]] = []
        for transaction in message.transactionList {
            bytes += transaction.count
            guard bytes <= maximumProvidedBytes else {
                throw .transactionsTooLarge(bytes: bytes, limit: maximumProvidedBytes)
            }
            transactions.append(Array(transaction))
        }
        guard transactions.count == missing.count else { throw .missingTransactions }
        for (position, transaction) in zip(missing, transactions) {
            guard SHA256d.hash(transaction) == job.wtxids[Int(position)] else { throw .missingTransactions }
        }
        return transactions
    }

    func pushed(_ message: PushSolutionView, connection: Sv2ConnectionID) {
        statistics.solutionsPushed += 1
        let solution = PushSolution(message)
        onSolution?(solution, connections[connection]?.lastAccepted)
        onPushedSolution?(solution, connections[connection]?.recentAccepted ?? [], connection)
    }

    private func accept(
        _ job: DeclaredMiningJob, requestID: UInt32, connection: Sv2ConnectionID, connections sender: Sv2ServerConnections
    ) throws(Sv2ServiceError) {
        // Parsed when it was declared: cannot fail here.
        guard let coinbase = try? DeclaredCoinbase(prefix: job.coinbasePrefix, suffix: job.coinbaseSuffix) else {
            throw .rejected("declared coinbase no longer parses")
        }
        if let error = witnessWithoutCommitment(job, coinbase: coinbase) {
            statistics.jobsRejected += 1
            count(error)
            statistics.declarationRejections[error.name, default: 0] += 1
            return try sender.send(DeclareMiningJobError(
                requestID: requestID, errorCode: error.code, errorDetails: Array(error.details.utf8.prefix(1_000))),
                to: connection)
        }
        let newToken = try makeToken(.declared, user: job.user, commitment: MiningJobToken.declaredCommitment(
            version: job.version, coinbaseTxVersion: coinbase.version, scriptSigPrefix: coinbase.scriptSigPrefix,
            sequence: coinbase.sequence, outputs: coinbase.outputs, locktime: coinbase.locktime))
        declaredJobs[newToken] = job
        declaredOrder.append(newToken)
        while declaredJobs.count > maximumDeclaredJobs, declaredHead < declaredOrder.count {
            declaredJobs[declaredOrder[declaredHead]] = nil
            declaredHead += 1
        }
        Self.compact(&declaredOrder, head: &declaredHead)
        connections[connection, default: ConnectionState()].lastAccepted = job
        connections[connection]!.recentAccepted.insert(job, at: 0)
        if connections[connection]!.recentAccepted.count > maximumRecentJobsPerConnection {
            connections[connection]!.recentAccepted.removeLast()
        }
        statistics.jobsAccepted += 1
        try sender.send(DeclareMiningJobSuccess(requestID: requestID, newMiningJobToken: newToken), to: connection)
    }

    private func reject(
        _ requestID: UInt32, _ error: JobDeclarationError, context: Sv2ServerContext
    ) throws(Sv2ServiceError) {
        statistics.jobsRejected += 1
        count(error)
        statistics.declarationRejections[error.name, default: 0] += 1
        try context.send(DeclareMiningJobError(
            requestID: requestID, errorCode: error.code, errorDetails: Array(error.details.utf8.prefix(1_000))))
    }

    private func count(_ error: JobDeclarationError) {
        statistics.rejections[error.name, default: 0] += 1
    }

    private func spend(_ token: [UInt8]) {
        guard spent.insert(token).inserted else { return }
        spentOrder.append(token)
        while spent.count > maximumSpentTokens, spentHead < spentOrder.count {
            spent.remove(spentOrder[spentHead])
            spentHead += 1
        }
        Self.compact(&spentOrder, head: &spentHead)
    }

    /// Drops the consumed front of a FIFO once it is most of the array (amortized O(1)).
    private static func compact<T>(_ order: inout [T], head: inout Int) {
        guard head > 1_024, head * 2 > order.count else { return }
        order.removeFirst(head)
        head = 0
    }

    /// A signed ``MiningJobToken``; its id mixes a counter with a per-server random salt (a bijection of the
    /// counter), so ids never repeat within a run and are not guessable across runs.
    private func makeToken(
        _ kind: MiningJobToken.Kind, user: String, commitment: [UInt8]
    ) throws(Sv2ServiceError) -> [UInt8] {
        defer { nextToken &+= 1 }
        let id = tokenSalt ^ (nextToken &* 0x9e37_79b9_7f4a_7c15)
        let expires = UInt32(clamping: now() &+ UInt64(tokenLifetime))
        do throws(Sv2NoiseError) {
            return try MiningJobToken.sign(
                kind: kind, id: id, expires: expires, user: user, jobCommitment: commitment, key: signingKey
            ).encoded
        } catch {
            throw .rejected("cannot sign a mining job token: \(error)")
        }
    }
}
