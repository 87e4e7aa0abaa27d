public import Logging
public import Reactor
import Sv2Bitcoin
public import Sv2Pool
public import Sv2Service
import Sv2Codec

/// A pool's Job Declaration server (`sv2 jd-server`, or `sv2 pool --jd-listen`): a Job Declaration Sv2 server on the
/// pool's loop whose ``JobDeclaratorServer`` hands out tokens carrying the pool's payout output and is the pool's
/// custom-job check (``Pool/customJobAuthorizer``, a direct call between siblings).
///
/// Build the pool's ``PoolService`` with `acceptsWorkSelection: true`, then this, then ``start()`` (loop thread).
/// Built from the ``PoolService``, the JD server's mempool view is fed from the pool's Template Provider: the
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
    /// halving) turns on the subsidy floor of the payout check.
    public init(
        pool: Pool, server configuration: Sv2ServerConfiguration, halvingInterval: UInt32? = nil,
        eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.jd-server")
    ) throws(Sv2ServiceError) {
        let declarator = JobDeclaratorServer(
            coinbaseOutputs: [TxOutput(value: 0, script: pool.configuration.payoutScript)],
            halvingInterval: halvingInterval)
        self.declarator = declarator
        server = try Server(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningServerHandler(),
            jobDeclaration: declarator.handler, templateDistribution: NullSv2TemplateDistributionServerHandler(),
            logger: logger)
        pool.customJobAuthorizer = { request in declarator.authorize(request) }
    }

    /// Builds the server for `service`'s pool (see ``init(pool:server:halvingInterval:eventLoop:logger:)``) and feeds
    /// its mempool view from the pool's template link.
    public convenience init(
        service: PoolService, server configuration: Sv2ServerConfiguration, halvingInterval: UInt32? = nil,
        logger: Logger = Logger(label: "stratum.jd-server")
    ) throws(Sv2ServiceError) {
        try self.init(
            pool: service.pool, server: configuration, halvingInterval: halvingInterval, eventLoop: service.eventLoop,
            logger: logger)
        let declarator = self.declarator
        // The pool's template link is created by PoolService.start(): looked up when a template arrives.
        service.pool.onWork = { [weak service] template, _, _ in
            try? service?.templateClient?.send(RequestTransactionData(templateID: template.templateID))
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
