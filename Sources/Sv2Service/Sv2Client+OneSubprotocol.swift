public import Logging
public import Reactor

// A client speaks one subprotocol (its configuration's), so the other two handlers are always Null; these spell
// them out once.

extension Sv2Client
where JobDeclaration == NullSv2JobDeclarationClientHandler,
      TemplateDistribution == NullSv2TemplateDistributionClientHandler {
    /// Creates a Mining client (the configuration's `sv2Protocol` must be `.mining`).
    ///
    /// ```swift
    /// let client = try Sv2Client(configuration: config, eventLoop: loop, mining: MyMiner())
    /// ```
    public convenience init(
        configuration: Sv2ClientConfiguration, eventLoop: EventLoop, mining: Mining,
        logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: mining,
            jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: NullSv2TemplateDistributionClientHandler(), logger: logger)
    }
}

extension Sv2Client
where Mining == NullSv2MiningClientHandler, TemplateDistribution == NullSv2TemplateDistributionClientHandler {
    /// Creates a Job Declaration client (the configuration's `sv2Protocol` must be `.jobDeclaration`).
    public convenience init(
        configuration: Sv2ClientConfiguration, eventLoop: EventLoop, jobDeclaration: JobDeclaration,
        logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningClientHandler(),
            jobDeclaration: jobDeclaration, templateDistribution: NullSv2TemplateDistributionClientHandler(),
            logger: logger)
    }
}

extension Sv2Client
where Mining == NullSv2MiningClientHandler, JobDeclaration == NullSv2JobDeclarationClientHandler {
    /// Creates a Template Distribution client (the configuration's `sv2Protocol` must be `.templateDistribution`).
    public convenience init(
        configuration: Sv2ClientConfiguration, eventLoop: EventLoop, templateDistribution: TemplateDistribution,
        logger: Logger = Logger(label: "stratum.client")
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: NullSv2MiningClientHandler(),
            jobDeclaration: NullSv2JobDeclarationClientHandler(), templateDistribution: templateDistribution,
            logger: logger)
    }
}
