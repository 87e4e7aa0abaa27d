public import Logging
public import Reactor
public import Sv2Service
import Sv2Codec
public import Sv2TemplateProvider

/// A whole pool on one event loop, in one call: the Mining server (``PoolMiningHandler``), its sibling Template
/// Distribution client (``TemplateDistributionClient``) and — with the embedded template source — a local
/// Template Distribution server (`EmbeddedTemplateProvider`) on `127.0.0.1`.
///
/// ```swift
/// let service = try PoolService(
///     configuration: PoolConfiguration(payoutScript: script),
///     server: Sv2ServerConfiguration(listenAddress: try SocketAddress(ip: "0.0.0.0", port: 34254), noise: identity),
///     templateSource: .embedded(.init()), eventLoop: loop)
/// loop.execute { try! service.start() }   // loop thread only
/// try loop.run()
/// ```
/// Found blocks go to the template source as `SubmitSolution`; ``Pool/onBlockFound`` and
/// ``embeddedTemplateProvider`` report them. The Mining server refuses `REQUIRES_WORK_SELECTION` at setup unless
/// built with `acceptsWorkSelection` (a Job Declaration server then checks custom jobs through
/// ``Pool/customJobAuthorizer``).
public final class PoolService {
    /// Where templates come from.
    public enum TemplateSource: Sendable {
        /// The built-in regtest-style generator, served on a loopback port of the same loop.
        case embedded(EmbeddedTemplateProvider.Configuration)
        /// A Template Provider (e.g. Bitcoin Core's sv2-tp) at `address`.
        case remote(address: SocketAddress, security: Sv2ClientConfiguration.Security)
        /// Template Providers in order of preference (host names allowed): the pool fails over down the list and
        /// returns to the first when it is back (see `Sv2Failover`).
        case failover(endpoints: [Endpoint], security: Sv2ClientConfiguration.Security)
    }

    /// The pool's Mining server.
    public typealias MiningServer = Sv2Server<
        PoolMiningHandler, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
    /// The pool's Template Distribution client.
    public typealias TemplateClient = Sv2Client<
        NullSv2MiningClientHandler, NullSv2JobDeclarationClientHandler, TemplateDistributionClient>
    /// The embedded Template Distribution server.
    public typealias TemplateProviderServer = Sv2Server<
        NullSv2MiningServerHandler, NullSv2JobDeclarationServerHandler, EmbeddedTemplateProvider>

    /// The pool state (channels, jobs, statistics, block hooks).
    public let pool: Pool
    /// The Mining server miners and proxies connect to.
    public let server: MiningServer
    /// The embedded template source's server (`nil` with a remote one).
    public let templateProviderServer: TemplateProviderServer?
    /// The Template Distribution client (created by ``start()``).
    public private(set) var templateClient: TemplateClient?
    /// How the template link reconnects and fails over. Set before ``start()``.
    public var reconnectPolicy = ReconnectPolicy()
    /// The template link's reconnect/failover state (created by ``start()``).
    public private(set) var templateFailover: Sv2Failover?
    /// The template source is declared lost when it sends nothing for this long (`nil`: never). The Template
    /// Distribution protocol has no ping, so silence is the only sign of a provider that hangs; one that vanished
    /// is noticed sooner by TCP keepalive. A live provider sends a template at least on every block and fee
    /// change, so the default leaves a wide margin; a false alarm only costs a reconnect. Set before ``start()``.
    public var templateSourceTimeout: Duration? = .seconds(300)
    /// The loop everything runs on.
    public let eventLoop: EventLoop
    /// `nil`: a loop of a ``PoolCluster`` other than the first, fed by the first loop's template link.
    private let templateSource: TemplateSource?
    /// Handed every template event of the template link (set by ``PoolCluster`` on its first loop, before start).
    var templateFeed: ((TemplateFeedEvent) -> Void)?
    private let logger: Logger
    private var stopped = false

    /// Builds the services (nothing listens or connects until ``start()``).
    public convenience init(
        configuration: PoolConfiguration, server serverConfiguration: Sv2ServerConfiguration,
        templateSource: TemplateSource, eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.pool"),
        acceptsWorkSelection: Bool = false
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, server: serverConfiguration, optionalSource: templateSource,
            eventLoop: eventLoop, logger: logger, acceptsWorkSelection: acceptsWorkSelection)
    }

    /// With `optionalSource` nil: a pool without a template link of its own (templates are fed to ``pool`` by a
    /// ``PoolCluster``).
    init(
        configuration: PoolConfiguration, server serverConfiguration: Sv2ServerConfiguration,
        optionalSource templateSource: TemplateSource?, eventLoop: EventLoop, logger: Logger,
        acceptsWorkSelection: Bool
    ) throws(Sv2ServiceError) {
        do { pool = try Pool(configuration: configuration, logger: logger) } catch {
            throw .invalidConfiguration("\(error)")
        }
        var serverConfiguration = serverConfiguration
        // Work selection (custom jobs) only with a Job Declaration server behind ``Pool/customJobAuthorizer``.
        if acceptsWorkSelection {
            serverConfiguration.miningSetup.acceptedFlags |= Sv2SetupFlags.Mining.requiresWorkSelection
        } else {
            serverConfiguration.miningSetup.acceptedFlags &= ~Sv2SetupFlags.Mining.requiresWorkSelection
        }
        server = try MiningServer(
            configuration: serverConfiguration, eventLoop: eventLoop, mining: PoolMiningHandler(pool: pool),
            jobDeclaration: NullSv2JobDeclarationServerHandler(),
            templateDistribution: NullSv2TemplateDistributionServerHandler(), logger: logger)
        if case .embedded(let embedded) = templateSource {
            templateProviderServer = try TemplateProviderServer(
                configuration: Self.providerConfiguration(named: serverConfiguration.metricsName), eventLoop: eventLoop,
                mining: NullSv2MiningServerHandler(), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: EmbeddedTemplateProvider(configuration: embedded),
                logger: Logger(label: "stratum.template-source"))
        } else {
            templateProviderServer = nil
        }
        self.eventLoop = eventLoop
        self.templateSource = templateSource
        self.logger = logger
    }

    private static func loopback() throws(Sv2ServiceError) -> SocketAddress {
        do { return try SocketAddress(ip: "127.0.0.1", port: 0) } catch { throw .transport(error) }
    }

    /// The embedded provider's server: metrics named after the pool's (`<name>-template-provider`).
    private static func providerConfiguration(named name: String?) throws(Sv2ServiceError) -> Sv2ServerConfiguration {
        var configuration = Sv2ServerConfiguration(listenAddress: try loopback())
        configuration.metricsName = name.map { "\($0)-template-provider" }
        return configuration
    }

    /// The embedded template source's state (accepted blocks, current template), if embedded.
    public var embeddedTemplateProvider: EmbeddedTemplateProvider.State? {
        templateProviderServer?.templateDistribution.state
    }

    /// The Mining server's bound address, once started.
    public var localAddress: SocketAddress? { server.localAddress }

    /// Starts the template source (embedded), the Mining server and the template client. Loop thread only.
    public func start() throws(Sv2ServiceError) { try start(listeningOn: nil) }

    /// ``start()``, with the Mining server listening on `address` (`nil`: its configured address). A pool without
    /// a template source of its own (a ``PoolCluster`` loop after the first) starts its Mining server only.
    func start(listeningOn address: SocketAddress?) throws(Sv2ServiceError) {
        guard templateClient == nil else { return }
        stopped = false
        guard let templateSource else {
            if let address { try server.start(on: address) } else { try server.start() }
            pool.attach(to: server.connections)
            return
        }
        let endpoints: [Endpoint]
        let security: Sv2ClientConfiguration.Security
        switch templateSource {
        case .embedded:
            guard let provider = templateProviderServer else { throw .invalidConfiguration("no embedded provider") }
            try provider.start()
            provider.templateDistribution.state.attach(to: provider.connections)
            guard let address = provider.localAddress else { throw .notConnected }
            endpoints = [Endpoint(address)]
            security = .plain
        case .remote(let address, let remoteSecurity):
            endpoints = [Endpoint(address)]
            security = remoteSecurity
        case .failover(let list, let remoteSecurity):
            endpoints = list
            security = remoteSecurity
        }
        let failover = try Sv2Failover(
            endpoints: endpoints, policy: reconnectPolicy, eventLoop: eventLoop,
            logger: Logger(label: "stratum.pool.template-link"))
        templateFailover = failover
        // The configured address is a placeholder: every attempt names its resolved address (connect(to:)).
        let placeholder: SocketAddress
        if let numeric = endpoints[0].numericAddress { placeholder = numeric } else { placeholder = try Self.loopback() }
        var clientConfiguration = Sv2ClientConfiguration(
            serverAddress: placeholder, sv2Protocol: .templateDistribution, security: security)
        clientConfiguration.inactivityTimeout = templateSourceTimeout
        var distributionClient = TemplateDistributionClient(pool: pool)
        distributionClient.feed = templateFeed
        let client = try server.makeSiblingClient(
            configuration: clientConfiguration,
            mining: NullSv2MiningClientHandler(), jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: distributionClient, logger: logger)
        templateClient = client
        failover.drive(client) { [weak self] state in
            // Also when connecting failed (no connectionDidClose then): no new work until a source is back.
            if case .closed = state {
                self?.pool.templateSourceLost()
                self?.templateFeed?(.lost)
            }
        }
        pool.onSolution = { [weak self] (solution) throws(Sv2ServiceError) in
            guard let client = self?.templateClient else { throw .notConnected }
            try client.send(solution)
        }
        // Same link, same flush: a found block's request for its template's transactions goes out just before its
        // SubmitSolution (see Pool.onTransactionDataRequest).
        pool.onTransactionDataRequest = { [weak self] (request) throws(Sv2ServiceError) in
            guard let client = self?.templateClient else { throw .notConnected }
            try client.send(request)
        }
        if let address { try server.start(on: address) } else { try server.start() }
        pool.attach(to: server.connections)
        failover.start()
    }

    /// Stops everything: pending batched acknowledgements are sent first, then connections are flushed and
    /// closed. Loop thread only.
    public func stop() {
        stopped = true
        pool.flushAcknowledgements()
        templateFailover?.stop()
        server.stop()
        templateClient?.close()
        templateProviderServer?.stop()
        embeddedTemplateProvider?.stopRefreshing()
        pool.detach()
    }
}
