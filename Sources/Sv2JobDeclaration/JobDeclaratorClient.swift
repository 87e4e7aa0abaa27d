import Glibc
public import Reactor
public import Sv2Codec
public import Sv2Service
import Sv2Bitcoin

/// A client that declares jobs with a `JobDeclaratorClient`: `client.jobDeclaration.state` holds its state.
public typealias JobDeclarationClient =
    Sv2Client<NullSv2MiningClientHandler, JobDeclaratorClientHandler, NullSv2TemplateDistributionClientHandler>

/// Job Declaration client state (JDC skeleton): keeps a few mining job tokens allocated ahead, declares jobs
/// (Full-Template mode), answers `ProvideMissingTransactions` from the declared transactions, tracks each
/// declaration's outcome and pushes solutions. Loop thread only.
///
/// Building the jobs themselves (templates from a Template Provider, `SetCustomMiningJob` to the pool) is the
/// application's part; the token of an accepted declaration is what `SetCustomMiningJob.mining_job_token` carries.
public final class JobDeclaratorClient {
    /// A token from `AllocateMiningJobToken.Success`, not yet used.
    public struct Token: Sendable, Hashable {
        /// The token bytes.
        public var bytes: [UInt8]
        /// The pool's outputs (CompactSize-prefixed) the coinbase of a job declared with it must contain.
        public var coinbaseOutputs: [UInt8]
        /// Unix time it arrived.
        public var received: UInt64 = 0
    }

    /// Where a declaration is.
    public enum Declaration: Sendable, Hashable {
        /// Sent, waiting for the server.
        case pending
        /// Accepted; `token` goes into `SetCustomMiningJob`.
        case accepted(token: [UInt8])
        /// Refused with this code.
        case rejected(code: String)
    }

    /// Declarations (and their transactions) remembered at most.
    public static let maximumDeclarations = 256

    /// `user_identifier` of the token requests.
    public let userIdentifier: String
    /// How many unused tokens to keep allocated ahead.
    public let tokensAhead: Int
    /// Unused tokens, oldest first.
    public private(set) var tokens: [Token] = []
    /// Every declaration by request id.
    public private(set) var declarations: [UInt32: Declaration] = [:]
    /// Counters.
    public private(set) var statistics = JobDeclaratorStatistics()
    /// Called on the loop thread when a declaration is answered.
    public var onDeclaration: ((UInt32, Declaration) -> Void)?
    /// Called on the loop thread when a token arrives.
    public var onTokenAllocated: ((Token) -> Void)?
    /// Unix time in seconds (injectable for tests).
    public var now: () -> UInt64 = { UInt64(Glibc.time(nil)) }
    /// Seconds before its expiry a signed token (``MiningJobToken``) is dropped unused: a pool would refuse it
    /// (`expired-token`) by the time the custom job reaches it. Opaque tokens of other JD servers never expire here.
    public var expiryMargin: UInt64 = 60
    private var transactions: [UInt32: [[UInt8]]] = [:]
    private var requestedTokens = 0
    private var nextRequestID: UInt32 = 1
    private var send: ((any Sv2Message) throws(Sv2ServiceError) -> Void)?

    /// Creates the state.
    public init(userIdentifier: String, tokensAhead: Int = 2) {
        self.userIdentifier = userIdentifier
        self.tokensAhead = Swift.max(1, tokensAhead)
    }

    /// The handler to give an `Sv2Client`.
    public var handler: JobDeclaratorClientHandler { JobDeclaratorClientHandler(state: self) }

    /// Creates the state and its client in one call (then `client.connect()`). Sets the `DECLARE_TX_DATA` flag.
    public static func makeClient(
        userIdentifier: String, server: Sv2ClientConfiguration, eventLoop: EventLoop, tokensAhead: Int = 2
    ) throws(Sv2ServiceError) -> JobDeclarationClient {
        let state = JobDeclaratorClient(userIdentifier: userIdentifier, tokensAhead: tokensAhead)
        var server = server
        server.flags |= Sv2SetupFlags.JobDeclaration.declareTxData
        let client = try JobDeclarationClient(
            configuration: server, eventLoop: eventLoop, mining: NullSv2MiningClientHandler(),
            jobDeclaration: state.handler, templateDistribution: NullSv2TemplateDistributionClientHandler())
        state.attach(client)
        return client
    }

    /// Routes messages sent outside handler calls (`declare`, `pushSolution`) through `client`.
    public func attach<Mining, TemplateDistribution>(
        _ client: Sv2Client<Mining, JobDeclaratorClientHandler, TemplateDistribution>
    ) {
        send = { [weak client] (message) throws(Sv2ServiceError) in
            guard let client else { throw .notConnected }
            try client.send(message)
        }
    }

    /// Declares a job: takes a token (or uses `token`), sends `DeclareMiningJob` with the wtxids of
    /// `transactions` (full serializations, coinbase excluded) and keeps them for `ProvideMissingTransactions`.
    /// Returns the request id the outcome is filed under.
    @discardableResult
    public func declare(
        version: UInt32, coinbasePrefix: [UInt8], coinbaseSuffix: [UInt8], transactions: [[UInt8]],
        excessData: [UInt8] = [], token: [UInt8]? = nil
    ) throws(Sv2ServiceError) -> UInt32 {
        guard let send else { throw .notConnected }
        let tokenBytes: [UInt8]
        if let token {
            tokenBytes = token
        } else {
            dropExpiringTokens()
            guard !tokens.isEmpty else {
                try topUpTokens(send)
                throw .rejected("no mining job token allocated yet")
            }
            tokenBytes = tokens.removeFirst().bytes
        }
        let requestID = nextRequestID
        nextRequestID &+= 1
        try send(DeclareMiningJob(
            requestID: requestID, miningJobToken: tokenBytes, version: version, coinbaseTxPrefix: coinbasePrefix,
            coinbaseTxSuffix: coinbaseSuffix, wtxidList: transactions.map { JobDeclarationWire.u256(SHA256d.hash($0)) },
            excessData: excessData))
        declarations[requestID] = .pending
        // Bounded: the oldest outcomes are forgotten (request ids only grow, so the smallest is the oldest).
        if declarations.count > Self.maximumDeclarations, let oldest = declarations.keys.min() {
            declarations[oldest] = nil
            self.transactions[oldest] = nil
        }
        if !transactions.isEmpty { self.transactions[requestID] = transactions }
        statistics.jobsDeclared += 1
        try topUpTokens(send)
        return requestID
    }

    /// Takes the oldest unused token (for a `SetCustomMiningJob` in coinbase-only mode) and asks for another one;
    /// `nil` when none is allocated yet.
    public func takeToken() -> Token? {
        dropExpiringTokens()
        guard !tokens.isEmpty else {
            if let send { try? topUpTokens(send) }
            return nil
        }
        let token = tokens.removeFirst()
        if let send { try? topUpTokens(send) }
        return token
    }

    /// Sends `PushSolution` (for the most recent accepted declaration on this connection, as the spec defines).
    public func pushSolution(_ solution: PushSolution) throws(Sv2ServiceError) {
        guard let send else { throw .notConnected }
        try send(solution)
        statistics.solutionsPushed += 1
    }

    // MARK: Messages (called by JobDeclaratorClientHandler)

    func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        requestedTokens = 0
        tokens.removeAll()
        try topUpTokens { (message) throws(Sv2ServiceError) in try context.send(message) }
    }

    func connectionDidClose() {
        tokens.removeAll()
        requestedTokens = 0
        for (id, declaration) in declarations where declaration == .pending {
            declarations[id] = .rejected(code: "connection-closed")
        }
        transactions.removeAll()
    }

    func tokenAllocated(_ message: AllocateMiningJobTokenSuccessView) {
        requestedTokens = Swift.max(0, requestedTokens - 1)
        let token = Token(
            bytes: Array(message.miningJobToken), coinbaseOutputs: Array(message.coinbaseTxOutputs), received: now())
        tokens.append(token)
        statistics.tokensAllocated += 1
        onTokenAllocated?(token)
    }

    func provideMissing(_ message: ProvideMissingTransactionsView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard let declared = transactions[message.requestID] else {
            throw .rejected("ProvideMissingTransactions for unknown request \(message.requestID)")
        }
        var list: [[UInt8]] = []
        for position in message.unknownTxPositionList {
            guard Int(position) < declared.count else { throw .rejected("missing transaction \(position) out of range") }
            list.append(declared[Int(position)])
        }
        statistics.missingTransactionRequests += 1
        statistics.transactionsProvided += list.count
        try context.send(ProvideMissingTransactionsSuccess(requestID: message.requestID, transactionList: list))
    }

    func answered(_ requestID: UInt32, _ outcome: Declaration) {
        transactions[requestID] = nil
        declarations[requestID] = outcome
        switch outcome {
        case .accepted: statistics.jobsAccepted += 1
        case .rejected(let code):
            statistics.jobsRejected += 1
            statistics.rejections[code, default: 0] += 1
        case .pending: break
        }
        onDeclaration?(requestID, outcome)
    }

    /// Drops the unused signed tokens that aged here to within ``expiryMargin`` of their expiry (counted in
    /// ``JobDeclaratorStatistics/tokensExpired``); the caller tops the reserve up. A token that arrived with less
    /// life than the margin (a JD server with a short lifetime or a skewed clock) is kept: dropping it would only
    /// ask for another like it, at network speed.
    private func dropExpiringTokens() {
        let limit = now() &+ expiryMargin
        let before = tokens.count
        tokens.removeAll { token in
            guard let signed = try? MiningJobToken(parsing: token.bytes) else { return false }
            let expires = UInt64(signed.expires)
            return expires <= limit && expires > token.received &+ expiryMargin
        }
        statistics.tokensExpired += before - tokens.count
    }

    private func topUpTokens(_ send: (any Sv2Message) throws(Sv2ServiceError) -> Void) throws(Sv2ServiceError) {
        while tokens.count + requestedTokens < tokensAhead {
            try send(AllocateMiningJobToken(userIdentifier: userIdentifier, requestID: nextRequestID))
            nextRequestID &+= 1
            requestedTokens += 1
        }
    }
}
