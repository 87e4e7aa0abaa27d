/// Counters of a Job Declaration server or client.
public struct JobDeclaratorStatistics: Sendable, Hashable {
    /// Tokens handed out (server) or received (client).
    public var tokensAllocated = 0
    /// `DeclareMiningJob`s received (server) or sent (client).
    public var jobsDeclared = 0
    /// Declarations answered with `DeclareMiningJob.Success`.
    public var jobsAccepted = 0
    /// Declarations answered with `DeclareMiningJob.Error`.
    public var jobsRejected = 0
    /// Custom jobs whose token and payout the server authorized (``JobDeclaratorServer/authorize(_:)``).
    public var customJobsAuthorized = 0
    /// Refusals (declarations and custom jobs) by ``JobDeclarationError/name`` (server), or rejections by error
    /// code (client).
    public var rejections: [String: Int] = [:]
    /// Refused declarations by ``JobDeclarationError/name`` (server; also in ``rejections``).
    public var declarationRejections: [String: Int] = [:]
    /// Refused custom jobs by ``JobDeclarationError/name`` (server, sibling pool; also in ``rejections``).
    public var customJobRejections: [String: Int] = [:]
    /// `ProvideMissingTransactions` rounds.
    public var missingTransactionRequests = 0
    /// Transactions supplied through `ProvideMissingTransactions.Success`.
    public var transactionsProvided = 0
    /// Unused tokens dropped because they were about to expire (client).
    public var tokensExpired = 0
    /// `PushSolution`s received (server) or sent (client).
    public var solutionsPushed = 0

    /// Creates zeroed counters.
    public init() {}
}
