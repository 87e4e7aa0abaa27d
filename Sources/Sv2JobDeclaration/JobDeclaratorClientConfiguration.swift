public import Reactor
public import Sv2Pool
public import Sv2Service

/// What a Job Declaration client (`sv2 jd-client`) runs with.
public struct JobDeclaratorClientConfiguration: Sendable {
    /// The local pool miners connect to: its `PoolConfiguration.payoutScript` is the solo payout used while the
    /// pool or the JD server is unavailable. The pool channel is opened with `min_extranonce_size` =
    /// `PoolConfiguration.extranoncePrefixLength` (the JDC's per-channel prefix) +
    /// `PoolConfiguration.extranonceRollableLength` (the least downstream channels roll); whatever more the pool
    /// gives is rolled downstream too.
    public var local: PoolConfiguration
    /// The Mining server downstream miners (and proxies, translators) connect to.
    public var downstream: Sv2ServerConfiguration
    /// Where templates come from (a Template Provider, or the embedded one).
    public var templateSource: PoolService.TemplateSource
    /// The pool (Mining protocol; the channel is opened with REQUIRES_WORK_SELECTION): security and setup of the
    /// link; its address is the first of ``poolEndpoints``.
    public var pool: Sv2ClientConfiguration
    /// The pool's addresses in order of preference (fail-over to the next, back to the first when it answers again,
    /// as every other client role does); `pool.serverAddress` alone by default.
    public var poolEndpoints: [Endpoint]
    /// The pool's Job Declaration server: security and setup; its address is the first of
    /// ``jobDeclaratorEndpoints``.
    public var jobDeclarator: Sv2ClientConfiguration
    /// The JD server's addresses in order of preference (fail-over as for ``poolEndpoints``);
    /// `jobDeclarator.serverAddress` alone by default.
    public var jobDeclaratorEndpoints: [Endpoint]
    /// `user_identity` of the pool channel and `user_identifier` of the token requests (the JD server binds tokens
    /// to it).
    public var userIdentity: String
    /// Nominal hashrate announced for the pool channel (h/s).
    public var nominalHashrate: Float
    /// How the pool and JD server links reconnect.
    public var reconnectPolicy: ReconnectPolicy
    /// Mining starts (solo) when the pool has not opened a channel within this time.
    public var startupTimeout: Duration
    /// Full-template mode (`DECLARE_TX_DATA`): every template's transactions are fetched from the Template Provider
    /// (`RequestTransactionData`) and declared to the JD server (`DeclareMiningJob`) before the custom job goes to
    /// the pool with the token of the accepted declaration. Off: coinbase-only mode.
    public var declaresTransactions = false

    /// Creates a configuration.
    public init(
        local: PoolConfiguration, downstream: Sv2ServerConfiguration, templateSource: PoolService.TemplateSource,
        pool: Sv2ClientConfiguration, jobDeclarator: Sv2ClientConfiguration, userIdentity: String,
        nominalHashrate: Float = 1e12, reconnectPolicy: ReconnectPolicy = ReconnectPolicy(),
        startupTimeout: Duration = .seconds(10)
    ) {
        self.local = local
        self.downstream = downstream
        self.templateSource = templateSource
        self.pool = pool
        poolEndpoints = [Endpoint(pool.serverAddress)]
        self.jobDeclarator = jobDeclarator
        jobDeclaratorEndpoints = [Endpoint(jobDeclarator.serverAddress)]
        self.userIdentity = userIdentity
        self.nominalHashrate = nominalHashrate
        self.reconnectPolicy = reconnectPolicy
        self.startupTimeout = startupTimeout
    }
}

/// Counters of a ``JobDeclaratorClientService``.
public struct JobDeclaratorClientStatistics: Sendable, Hashable {
    /// `SetCustomMiningJob`s sent to the pool.
    public var customJobsSent = 0
    /// `SetCustomMiningJob.Success` received.
    public var customJobsAccepted = 0
    /// `SetCustomMiningJob.Error` received, by code.
    public var customJobRefusals: [String: Int] = [:]
    /// Shares forwarded to the pool on custom jobs.
    public var sharesForwarded = 0
    /// Shares the pool acknowledged (from `last_sequence_number` progress).
    public var sharesAcknowledged = 0
    /// `SubmitShares.Error` from the pool, by code.
    public var shareRejections: [String: Int] = [:]
    /// Templates whose transactions could not be fetched for a declaration.
    public var transactionDataFailures = 0
    /// Declarations the JD server refused, by code.
    public var declarationRefusals: [String: Int] = [:]
    /// Switches to solo mining (pool or JD server unavailable).
    public var fallbacks = 0
    /// Switches back to the pool.
    public var returns = 0
    /// Pool channels opened.
    public var channelsOpened = 0

    /// Creates zeroed counters.
    public init() {}
}
