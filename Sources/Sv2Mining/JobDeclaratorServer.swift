public import Sv2Codec
import Sv2Service
public import Sv2Bitcoin

/// Job Declaration server state (JDS): hands out mining job tokens with the pool's coinbase outputs, checks declared
/// jobs (token, coinbase, transactions it knows or gets through `ProvideMissingTransactions`) and collects pushed
/// solutions. Loop thread only; `JobDeclaratorServerHandler` forwards the messages here.
///
/// Accepted jobs are kept by the new token sent in `DeclareMiningJob.Success`, so the pool can check the token of a
/// `SetCustomMiningJob` with ``declaredJob(token:)``.
public final class JobDeclaratorServer {
    /// Pool outputs every token comes with (`coinbase_tx_outputs`; the first is the pool payout).
    public let coinbaseOutputs: [TxOutput]
    /// Transactions the server knows, by wtxid (its mempool view); filled by `ProvideMissingTransactions.Success`.
    public var mempool: [Hash256: [UInt8]] = [:]
    /// Counters.
    public private(set) var statistics = JobDeclaratorStatistics()
    /// Called with every pushed solution (the pool may propagate the block too).
    public var onSolution: ((PushSolution) -> Void)?
    /// Accepted jobs by the token of their `DeclareMiningJob.Success`.
    public private(set) var declaredJobs: [[UInt8]: DeclaredMiningJob] = [:]
    private var connections: [Sv2ConnectionID: ConnectionState] = [:]
    /// Unused tokens one connection may hold; one more `AllocateMiningJobToken` closes the connection (the message has
    /// no error answer). A JD client keeps a few in reserve.
    public var maximumTokensPerConnection = 64
    /// Declarations of one connection waiting for `ProvideMissingTransactions.Success`; one more is answered
    /// `DeclareMiningJob.Error` `too-many-pending-declarations`.
    public var maximumPendingDeclarationsPerConnection = 16
    private var nextToken: UInt64 = 1
    private let tokenSalt: UInt64

    private struct ConnectionState {
        var tokens: Set<[UInt8]> = []
        var pending: [UInt32: (job: DeclaredMiningJob, missing: [UInt16])] = [:]
    }

    /// Creates a server handing out `coinbaseOutputs` with each token.
    public init(coinbaseOutputs: [TxOutput]) {
        self.coinbaseOutputs = coinbaseOutputs
        var generator = SystemRandomNumberGenerator()
        tokenSalt = generator.next()
    }

    /// The handler to give an `Sv2Server`.
    public var handler: JobDeclaratorServerHandler { JobDeclaratorServerHandler(server: self) }

    /// The accepted job a token names, if any.
    public func declaredJob(token: [UInt8]) -> DeclaredMiningJob? { declaredJobs[token] }

    /// Adds a transaction to the mempool view (keyed by its wtxid: SHA-256d of the full serialization).
    public func addTransaction(_ transaction: [UInt8]) {
        mempool[SHA256d.hash(transaction)] = transaction
    }

    // MARK: Messages (called by JobDeclaratorServerHandler)

    func connectionDidClose(_ connection: Sv2ConnectionID) {
        connections[connection] = nil
    }

    func allocate(_ message: AllocateMiningJobTokenView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        if let state = connections[context.connectionID], state.tokens.count >= maximumTokensPerConnection {
            throw .rejected("more than \(maximumTokensPerConnection) unused mining job tokens")
        }
        let token = makeToken()
        connections[context.connectionID, default: ConnectionState()].tokens.insert(token)
        var outputs: [UInt8] = []
        CompactSize.append(UInt64(coinbaseOutputs.count), to: &outputs)  // CompactSize-prefixed here (notes §8.8)
        for output in coinbaseOutputs { output.serialize(into: &outputs) }
        statistics.tokensAllocated += 1
        try context.send(AllocateMiningJobTokenSuccess(
            requestID: message.requestID, miningJobToken: token, coinbaseTxOutputs: outputs))
    }

    func declare(_ message: DeclareMiningJobView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        statistics.jobsDeclared += 1
        let token = Array(message.miningJobToken)
        // Each allocated token is good for one declaration on the connection it was allocated to.
        guard connections[context.connectionID]?.tokens.remove(token) != nil else {
            return try reject(message.requestID, "invalid-mining-job-token", context: context)
        }
        guard !message.coinbaseTxPrefix.isEmpty, !message.coinbaseTxSuffix.isEmpty else {
            return try reject(message.requestID, "invalid-coinbase-tx", context: context)
        }
        let job = DeclaredMiningJob(
            token: token, version: message.version, coinbasePrefix: Array(message.coinbaseTxPrefix),
            coinbaseSuffix: Array(message.coinbaseTxSuffix), wtxids: message.wtxidList.map(WireConversions.hash),
            excessData: Array(message.excessData))
        let missing = job.wtxids.indices.filter { mempool[job.wtxids[$0]] == nil }.map { UInt16($0) }
        guard missing.isEmpty else {
            guard job.wtxids.count <= Int(UInt16.max) + 1 else {
                return try reject(message.requestID, "invalid-job", context: context)
            }
            let pending = connections[context.connectionID]?.pending
            guard pending?[message.requestID] != nil || (pending?.count ?? 0) < maximumPendingDeclarationsPerConnection
            else { return try reject(message.requestID, "too-many-pending-declarations", context: context) }
            connections[context.connectionID, default: ConnectionState()].pending[message.requestID] = (job, missing)
            statistics.missingTransactionRequests += 1
            return try context.send(ProvideMissingTransactions(requestID: message.requestID, unknownTxPositionList: missing))
        }
        try accept(job, requestID: message.requestID, context: context)
    }

    func provided(_ message: ProvideMissingTransactionsSuccessView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard let (job, missing) = connections[context.connectionID]?.pending.removeValue(forKey: message.requestID) else {
            throw .rejected("ProvideMissingTransactions.Success for unknown request \(message.requestID)")
        }
        let transactions = Array(message.transactionList.map { Array($0) })
        guard transactions.count == missing.count else {
            return try reject(message.requestID, "missing-txs", context: context)
        }
        for (position, transaction) in zip(missing, transactions) {
            guard SHA256d.hash(transaction) == job.wtxids[Int(position)] else {
                return try reject(message.requestID, "missing-txs", context: context)
            }
        }
        for transaction in transactions { addTransaction(transaction) }
        statistics.transactionsProvided += transactions.count
        try accept(job, requestID: message.requestID, context: context)
    }

    func pushed(_ message: PushSolutionView) {
        statistics.solutionsPushed += 1
        onSolution?(PushSolution(message))
    }

    private func accept(_ job: DeclaredMiningJob, requestID: UInt32, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let newToken = makeToken()
        declaredJobs[newToken] = job
        statistics.jobsAccepted += 1
        try context.send(DeclareMiningJobSuccess(requestID: requestID, newMiningJobToken: newToken))
    }

    private func reject(_ requestID: UInt32, _ code: String, context: Sv2ServerContext) throws(Sv2ServiceError) {
        statistics.jobsRejected += 1
        statistics.rejections[code, default: 0] += 1
        try context.send(DeclareMiningJobError(requestID: requestID, errorCode: code, errorDetails: []))
    }

    /// 16 bytes: a counter and a per-server random salt, so tokens never repeat and are not guessable across runs.
    private func makeToken() -> [UInt8] {
        defer { nextToken &+= 1 }
        var token: [UInt8] = []
        token.reserveCapacity(16)
        withUnsafeBytes(of: nextToken.bigEndian) { token.append(contentsOf: $0) }
        withUnsafeBytes(of: (tokenSalt ^ nextToken &* 0x9e37_79b9_7f4a_7c15).bigEndian) { token.append(contentsOf: $0) }
        return token
    }
}
