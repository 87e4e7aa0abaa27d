public import Logging

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
