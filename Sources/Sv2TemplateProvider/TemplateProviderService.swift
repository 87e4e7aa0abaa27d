public import Logging
public import Reactor
public import Sv2Service

/// The embedded template source as a standalone Template Distribution server (what `sv2 template-provider`
/// runs): any pool — ours with `--tp`, or another implementation — can be run against it without Bitcoin Core.
///
/// Serves ``EmbeddedTemplateProvider`` (templates, chain tips, solutions, transaction data) with the server's
/// security (Noise with an authority key, like sv2-tp, or plain). Loop thread only.
///
/// ```swift
/// let provider = try TemplateProviderService(
///     provider: .init(source: .init(nbits: 0x207f_ffff)),
///     server: Sv2ServerConfiguration(listenAddress: address, noise: identity), eventLoop: loop)
/// try provider.start()
/// ```
public final class TemplateProviderService {
    /// The Template Distribution server.
    public typealias Server = Sv2Server<
        NullSv2MiningServerHandler, NullSv2JobDeclarationServerHandler, EmbeddedTemplateProvider>

    /// The server pools connect to.
    public let server: Server
    /// The loop it runs on.
    public let eventLoop: EventLoop

    /// Builds the server (nothing listens until ``start()``).
    public init(
        provider: EmbeddedTemplateProvider.Configuration, server configuration: Sv2ServerConfiguration,
        eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.template-provider")
    ) throws(Sv2ServiceError) {
        server = try Server(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningServerHandler(),
            jobDeclaration: NullSv2JobDeclarationServerHandler(),
            templateDistribution: EmbeddedTemplateProvider(configuration: provider), logger: logger)
        self.eventLoop = eventLoop
    }

    /// The template source's state: current template and tip, accepted blocks, the `onBlockAccepted` hook.
    public var state: EmbeddedTemplateProvider.State { server.templateDistribution.state }

    /// The bound address, once started.
    public var localAddress: SocketAddress? { server.localAddress }

    /// Starts listening and the periodic template refresh. Loop thread only.
    public func start() throws(Sv2ServiceError) {
        try server.start()
        state.attach(to: server.connections)
    }

    /// Stops the refresh and closes every connection.
    public func stop() {
        state.stopRefreshing()
        server.stop()
    }
}
