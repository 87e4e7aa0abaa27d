public import Logging
public import Reactor

// A service for one subprotocol passes this side's Null handlers for the other two; these spell them out once, for
// servers and clients alike. A server refuses SetupConnection for the other two; a client's configuration must
// name the one it speaks (`sv2Protocol`).

extension Sv2HandlerOwner where JobDeclaration == NullJobDeclaration, TemplateDistribution == NullTemplateDistribution {
    /// Creates a Mining-only service: a server refuses Job Declaration and Template Distribution; a client's
    /// configuration must have `sv2Protocol` `.mining`.
    ///
    /// ```swift
    /// let server = try Sv2Server(configuration: serverConfig, eventLoop: loop, mining: MyPool())
    /// let client = try Sv2Client(configuration: clientConfig, eventLoop: loop, mining: MyMiner())
    /// ```
    public init(
        configuration: Configuration, eventLoop: EventLoop, mining: Mining,
        logger: Logger = Logger(label: Self.defaultLoggerLabel)
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: mining, jobDeclaration: NullJobDeclaration(),
            templateDistribution: NullTemplateDistribution(), logger: logger)
    }
}

extension Sv2HandlerOwner where Mining == NullMining, TemplateDistribution == NullTemplateDistribution {
    /// Creates a Job Declaration-only service: a server refuses Mining and Template Distribution; a client's
    /// configuration must have `sv2Protocol` `.jobDeclaration`.
    public init(
        configuration: Configuration, eventLoop: EventLoop, jobDeclaration: JobDeclaration,
        logger: Logger = Logger(label: Self.defaultLoggerLabel)
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: NullMining(), jobDeclaration: jobDeclaration,
            templateDistribution: NullTemplateDistribution(), logger: logger)
    }
}

extension Sv2HandlerOwner where Mining == NullMining, JobDeclaration == NullJobDeclaration {
    /// Creates a Template Distribution-only service: a server refuses Mining and Job Declaration; a client's
    /// configuration must have `sv2Protocol` `.templateDistribution`.
    public init(
        configuration: Configuration, eventLoop: EventLoop, templateDistribution: TemplateDistribution,
        logger: Logger = Logger(label: Self.defaultLoggerLabel)
    ) throws(Sv2ServiceError) {
        try self.init(
            configuration: configuration, eventLoop: eventLoop, mining: NullMining(),
            jobDeclaration: NullJobDeclaration(), templateDistribution: templateDistribution, logger: logger)
    }
}
