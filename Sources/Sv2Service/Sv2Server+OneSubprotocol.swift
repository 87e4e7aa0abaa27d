public import Logging
public import Reactor

// A server for one subprotocol passes the Null handler for the other two; these spell them out once.

extension Sv2Server
where JobDeclaration == NullSv2JobDeclarationServerHandler,
      TemplateDistribution == NullSv2TemplateDistributionServerHandler {
    /// Creates a Mining-only server (Job Declaration and Template Distribution are refused).
    ///
    /// ```swift
    /// let server = try Sv2Server(configuration: config, eventLoop: loop, mining: MyPool())
    /// ```
    public convenience init(
        configuration: Sv2ServerConfiguration, eventLoop: EventLoop, mining: Mining,
        logger: Logger = Logger(label: "stratum.server")
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: mining,
            jobDeclaration: NullSv2JobDeclarationServerHandler(),
            templateDistribution: NullSv2TemplateDistributionServerHandler(), logger: logger)
    }
}

extension Sv2Server
where Mining == NullSv2MiningServerHandler, TemplateDistribution == NullSv2TemplateDistributionServerHandler {
    /// Creates a Job Declaration-only server (Mining and Template Distribution are refused).
    public convenience init(
        configuration: Sv2ServerConfiguration, eventLoop: EventLoop, jobDeclaration: JobDeclaration,
        logger: Logger = Logger(label: "stratum.server")
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningServerHandler(),
            jobDeclaration: jobDeclaration, templateDistribution: NullSv2TemplateDistributionServerHandler(),
            logger: logger)
    }
}

extension Sv2Server
where Mining == NullSv2MiningServerHandler, JobDeclaration == NullSv2JobDeclarationServerHandler {
    /// Creates a Template Distribution-only server (Mining and Job Declaration are refused).
    public convenience init(
        configuration: Sv2ServerConfiguration, eventLoop: EventLoop, templateDistribution: TemplateDistribution,
        logger: Logger = Logger(label: "stratum.server")
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningServerHandler(),
            jobDeclaration: NullSv2JobDeclarationServerHandler(), templateDistribution: templateDistribution,
            logger: logger)
    }
}

extension Sv2Server {
    /// Creates a Mining client on this server's loop (a sibling: see
    /// ``makeSiblingClient(configuration:mining:jobDeclaration:templateDistribution:logger:)``), e.g. a proxy's
    /// upstream link.
    public func makeSiblingClient<ClientMining: Sv2MiningClientHandler>(
        configuration: Sv2ClientConfiguration, mining: ClientMining, logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError)
        -> Sv2Client<ClientMining, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>
    {
        try Sv2Client(configuration: configuration, eventLoop: eventLoop, mining: mining, logger: logger)
    }

    /// Creates a Job Declaration client on this server's loop (a sibling), e.g. a pool-side declarator's link to
    /// its job declarator server.
    public func makeSiblingClient<ClientJobDeclaration: Sv2JobDeclarationClientHandler>(
        configuration: Sv2ClientConfiguration, jobDeclaration: ClientJobDeclaration,
        logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError)
        -> Sv2Client<NullSv2MiningClientHandler, ClientJobDeclaration, NullSv2TemplateDistributionClientHandler>
    {
        try Sv2Client(configuration: configuration, eventLoop: eventLoop, jobDeclaration: jobDeclaration, logger: logger)
    }

    /// Creates a Template Distribution client on this server's loop (a sibling), e.g. a pool's link to its
    /// template source.
    public func makeSiblingClient<ClientTemplateDistribution: Sv2TemplateDistributionClientHandler>(
        configuration: Sv2ClientConfiguration, templateDistribution: ClientTemplateDistribution,
        logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError)
        -> Sv2Client<NullSv2MiningClientHandler, NullSv2JobDeclarationClientHandler, ClientTemplateDistribution>
    {
        try Sv2Client(
            configuration: configuration, eventLoop: eventLoop, templateDistribution: templateDistribution,
            logger: logger)
    }
}
