public import Sv2Codec
public import Sv2Service

/// The Mining server handler of a pool: forwards every message to its ``Pool`` (shared with sibling services).
///
/// ```swift
/// let pool = try Pool(configuration: PoolConfiguration(payoutScript: script))
/// let server = try Sv2Server(configuration: serverConfiguration, eventLoop: loop,
///                            mining: PoolMiningHandler(pool: pool),
///                            jobDeclaration: NullSv2JobDeclarationServerHandler(),
///                            templateDistribution: NullSv2TemplateDistributionServerHandler())
/// ```
/// ``PoolService`` builds this together with the template source.
public struct PoolMiningHandler: Sv2MiningServerHandler {
    /// The pool state.
    public let pool: Pool

    /// Creates the handler for `pool`.
    public init(pool: Pool) { self.pool = pool }

    /// Attaches the pool to the server's connections (for broadcasts and its tick).
    public mutating func connectionDidSetUp(context: Sv2ServerContext) throws(Sv2ServiceError) {
        pool.attach(to: context.connections)
    }

    /// Frees the connection's channels.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        pool.connectionClosed(connectionID)
    }

    /// Opens a standard channel.
    public mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try pool.openStandardChannel(
            message, connection: context.connectionID, setupFlags: context.setupFlags, reply: context)
    }

    /// Opens an extended channel.
    public mutating func handle(_ message: OpenExtendedMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try pool.openExtendedChannel(
            message, connection: context.connectionID, setupFlags: context.setupFlags, reply: context)
    }

    /// Updates a channel's hashrate and maximum target.
    public mutating func handle(_ message: UpdateChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try pool.updateChannel(message, reply: context)
    }

    /// Closes a channel.
    public mutating func handle(_ message: CloseChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        pool.closeChannel(message, connection: context.connectionID)
    }

    /// Validates a standard share.
    public mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try pool.submit(message, reply: context)
    }

    /// Validates an extended share.
    public mutating func handle(_ message: SubmitSharesExtendedView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try pool.submit(message, reply: context)
    }

    /// A custom job (Job Declaration): checked by the pool and its JD server (``Pool/customJobAuthorizer``);
    /// `jd-not-supported` when the pool runs none.
    public mutating func handle(_ message: SetCustomMiningJobView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try pool.setCustomMiningJob(
            message, connection: context.connectionID, setupFlags: context.setupFlags, reply: context)
    }
}
