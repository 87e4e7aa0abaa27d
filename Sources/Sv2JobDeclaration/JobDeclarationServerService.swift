public import Logging
public import Reactor
import Sv2Bitcoin
public import Sv2Noise
public import Sv2Pool
public import Sv2Service
import Sv2Codec

/// A pool's Job Declaration server (`sv2 jd-server`, or `sv2 pool --jd-listen`): a Job Declaration Sv2 server on the
/// pool's loop whose ``JobDeclaratorServer`` hands out tokens carrying the pool's payout output and is the pool's
/// custom-job check (`Pool.customJobAuthorizer`, a direct call between siblings).
///
/// Build the pool's `PoolService` with `acceptsWorkSelection: true`, then this, then ``start()`` (loop thread).
/// A JD server for pools in other processes (``init(payoutScript:server:halvingInterval:signingKey:eventLoop:logger:)``)
/// has no pool: those pools check its signed tokens with a ``MiningJobTokenVerifier`` and its public key.
/// Built from the `PoolService`, the JD server's mempool view is fed from the pool's Template Provider: the
/// transactions of every template the pool mines (`RequestTransactionData` on the pool's template link), so declared
/// jobs using them need no `ProvideMissingTransactions`.
public final class JobDeclarationServerService {
    /// The Job Declaration server.
    public typealias Server =
        Sv2Server<NullSv2MiningServerHandler, JobDeclaratorServerHandler, NullSv2TemplateDistributionServerHandler>

    /// The JD server state (tokens, declared jobs, statistics).
    public let declarator: JobDeclaratorServer
    /// The server JD clients connect to.
    public let server: Server

    /// Builds the server for `pool` and makes it the pool's custom-job check. `halvingInterval` (blocks per subsidy
    /// halving) turns on the subsidy floor of the payout check; `signingKey` signs the tokens (a fresh key when `nil`).
    public convenience init(
        pool: Pool, server configuration: Sv2ServerConfiguration, halvingInterval: UInt32? = nil,
        signingKey: AuthorityKeyPair? = nil, eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.jd-server")
    ) throws(Sv2ServiceError) {
        try self.init(
            payoutScript: pool.configuration.payoutScript, server: configuration, halvingInterval: halvingInterval,
            signingKey: signingKey, eventLoop: eventLoop, logger: logger)
        let declarator = self.declarator
        pool.customJobAuthorizer = { request in declarator.authorize(request) }
    }

    /// Builds a JD server for a pool in another process paying `payoutScript`: its tokens are signed with
    /// `signingKey`, whose public key that pool is configured with (`sv2 pool --jds-authority-key`).
    public init(
        payoutScript: [UInt8], server configuration: Sv2ServerConfiguration, halvingInterval: UInt32? = nil,
        signingKey: AuthorityKeyPair? = nil, eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.jd-server")
    ) throws(Sv2ServiceError) {
        let declarator = JobDeclaratorServer(
            coinbaseOutputs: [TxOutput(value: 0, script: payoutScript)], halvingInterval: halvingInterval,
            signingKey: signingKey)
        self.declarator = declarator
        server = try Server(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningServerHandler(),
            jobDeclaration: declarator.handler, templateDistribution: NullSv2TemplateDistributionServerHandler(),
            logger: logger)
    }

    /// Builds the server for `service`'s pool (see
    /// ``init(pool:server:halvingInterval:signingKey:eventLoop:logger:)``) and feeds its mempool view from the pool's
    /// template link.
    public convenience init(
        service: PoolService, server configuration: Sv2ServerConfiguration, halvingInterval: UInt32? = nil,
        signingKey: AuthorityKeyPair? = nil, logger: Logger = Logger(label: "stratum.jd-server")
    ) throws(Sv2ServiceError) {
        try self.init(
            pool: service.pool, server: configuration, halvingInterval: halvingInterval, signingKey: signingKey,
            eventLoop: service.eventLoop, logger: logger)
        let declarator = self.declarator
        // Through the pool, which routes the answer back here (its own found blocks ask on the same link).
        service.pool.onWork = { [weak service] template, _, _ in
            try? service?.pool.requestTransactionData(templateID: template.templateID)
        }
        service.pool.onTransactionData = { _, transactions, _ in
            for transaction in transactions ?? [] { declarator.addTransaction(transaction) }
        }
    }

    /// The bound address, once started.
    public var localAddress: SocketAddress? { server.localAddress }

    /// Starts listening. Loop thread only.
    public func start() throws(Sv2ServiceError) { try server.start() }

    /// Stops listening and closes the connections. Loop thread only.
    public func stop() { server.stop() }
}
