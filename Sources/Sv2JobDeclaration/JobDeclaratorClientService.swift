public import Logging
public import Reactor
public import Sv2Codec
import Sv2Bitcoin
import Sv2Mining
public import Sv2Pool
public import Sv2Service

/// A whole Job Declaration client (`sv2 jd-client`) on one event loop: it chooses the work itself and mines it for
/// the pool, or for itself when the pool cannot take it.
///
/// - A local `PoolService` serves downstream miners (standard and extended channels, proxies, the translator)
///   with jobs built from the JDC's own Template Provider, and submits the blocks they find to it
///   (`SubmitSolution`).
/// - A JD server client allocates mining job tokens; they carry the pool's coinbase outputs.
/// - A Mining client opens one extended channel with the pool (`REQUIRES_WORK_SELECTION`). The local pool's
///   extranonce layout is fitted inside that channel's (`Pool.setUpstreamExtranonce(prefix:size:)`), its coinbase
///   pays the pool's outputs, and every template it mines becomes a `SetCustomMiningJob` (coinbase-only mode: the
///   token from `AllocateMiningJobToken`). Downstream shares that meet the pool channel's target are forwarded on the
///   matching custom job.
/// - When the pool or the JD server is gone, the coinbase pays the local payout (solo) until both are back.
///
/// Loop thread only (create and ``start()`` it there).
public final class JobDeclaratorClientService {
    /// Where the work goes.
    public enum Mode: Sendable, Hashable {
        /// Not started mining yet (waiting for the pool channel or the startup timeout).
        case starting
        /// Custom jobs on the pool's channel; the pool's outputs are paid.
        case pool
        /// The local payout is paid; nothing goes to the pool.
        case solo
    }

    /// The Mining client towards the pool.
    public typealias PoolClient = Sv2Client<
        JobDeclaratorUpstreamHandler, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>
    /// The Job Declaration client towards the JD server.
    public typealias DeclaratorClient = Sv2Client<
        NullSv2MiningClientHandler, JobDeclaratorClientHandler, NullSv2TemplateDistributionClientHandler>

    /// The configuration in use.
    public let configuration: JobDeclaratorClientConfiguration
    /// The local pool, its downstream server and template client.
    public let local: PoolService
    /// Token state of the JD server link.
    public let declarator: JobDeclaratorClient
    /// The pool link (created by ``start()``).
    public private(set) var poolClient: PoolClient?
    /// The JD server link (created by ``start()``).
    public private(set) var declaratorClient: DeclaratorClient?
    /// Where the work goes now.
    public private(set) var mode = Mode.starting
    /// Counters.
    public private(set) var statistics = JobDeclaratorClientStatistics()
    /// The loop everything runs on.
    public let eventLoop: EventLoop
    private let logger: Logger
    private var poolFailover: Sv2Failover?
    private var declaratorFailover: Sv2Failover?

    /// The pool address of the current or last attempt (one of ``JobDeclaratorClientConfiguration/poolEndpoints``).
    public var poolEndpoint: Endpoint? { poolFailover?.current }
    /// The JD server address of the current or last attempt.
    public var jobDeclaratorEndpoint: Endpoint? { declaratorFailover?.current }
    private var startupTimer: TimerHandle?

    // The pool channel.
    private var channelID: UInt32?
    private var channelTarget = Target.max
    /// Full extranonce length of the local coinbases (pool channel prefix + its extranonce size).
    private var extranonceLength = 0
    private var networkTarget: Target?
    private var poolOutputs: [TxOutput]?
    private var nextRequestID: UInt32 = 1
    private var nextSequence: UInt32 = 0
    private var lastAcknowledged: UInt32 = 0
    /// Custom job requests waiting for an answer: request id → template id.
    private var pendingJobs: [UInt32: UInt64] = [:]
    /// Accepted custom jobs: template id → the pool's job id.
    private var customJobs: [UInt64: UInt32] = [:]
    /// Work waiting for a token.
    private var waitingWork: (BlockTemplate, Coinbase, TemplateChainTip)?
    /// Full-template mode: work waiting for its transactions (by template id) or its declaration (by request id).
    private var awaitingTransactions: [UInt64: (BlockTemplate, Coinbase, TemplateChainTip)] = [:]
    private var awaitingDeclaration: [UInt32: (BlockTemplate, Coinbase, TemplateChainTip)] = [:]
    private static let maximumJobs = 64

    /// Builds the services (nothing connects until ``start()``).
    public init(
        configuration: JobDeclaratorClientConfiguration, eventLoop: EventLoop,
        logger: Logger = Logger(label: "stratum.jd-client")
    ) throws(Sv2ServiceError) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        local = try PoolService(
            configuration: configuration.local, server: configuration.downstream,
            templateSource: configuration.templateSource, eventLoop: eventLoop, logger: logger)
        declarator = JobDeclaratorClient(userIdentifier: configuration.userIdentity, tokensAhead: 4)
    }

    /// The downstream server's address, once mining started.
    public var localAddress: SocketAddress? { local.localAddress }

    /// The local pool (channels, jobs, found blocks).
    public var pool: Pool { local.pool }

    /// Connects to the pool and the JD server; downstream miners are served once the pool channel is open (or
    /// after ``JobDeclaratorClientConfiguration/startupTimeout``, solo). Loop thread only.
    public func start() throws(Sv2ServiceError) {
        guard poolClient == nil else { return }
        // Weak: the local pool and the token state may outlive this service (a connection draining after stop()).
        pool.onWork = { [weak self] template, coinbase, tip in self?.work(template, coinbase, tip) }
        pool.onShareAccepted = { [weak self] share in self?.forward(share) }
        let printed = pool.onBlockFound
        pool.onBlockFound = { [weak self] block in
            printed?(block)
            self?.blockFound(block)
        }
        declarator.onTokenAllocated = { [weak self] token in self?.tokenArrived(token) }
        declarator.onDeclaration = { [weak self] requestID, outcome in self?.declared(requestID, outcome) }
        pool.onTransactionData = { [weak self] templateID, transactions, excess in
            self?.transactionData(templateID, transactions, excess)
        }

        var poolConfiguration = configuration.pool
        poolConfiguration.flags |= Sv2SetupFlags.Mining.requiresWorkSelection
        let poolClient = try PoolClient(
            configuration: poolConfiguration, eventLoop: eventLoop,
            mining: JobDeclaratorUpstreamHandler(service: self), jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: NullSv2TemplateDistributionClientHandler(),
            logger: Logger(label: "stratum.jd-client.pool"))
        self.poolClient = poolClient
        let poolFailover = try Sv2Failover(
            endpoints: configuration.poolEndpoints, policy: configuration.reconnectPolicy,
            eventLoop: eventLoop, logger: Logger(label: "stratum.jd-client.pool-link"))
        self.poolFailover = poolFailover
        poolFailover.drive(poolClient) { [weak self] state in
            if case .closed = state { self?.poolLost() }
        }

        var declaratorConfiguration = configuration.jobDeclarator
        if configuration.declaresTransactions {
            declaratorConfiguration.flags |= Sv2SetupFlags.JobDeclaration.declareTxData
        }
        let declaratorClient = try DeclaratorClient(
            configuration: declaratorConfiguration, eventLoop: eventLoop, mining: NullSv2MiningClientHandler(),
            jobDeclaration: declarator.handler, templateDistribution: NullSv2TemplateDistributionClientHandler(),
            logger: Logger(label: "stratum.jd-client.jds"))
        declarator.attach(declaratorClient)
        self.declaratorClient = declaratorClient
        let declaratorFailover = try Sv2Failover(
            endpoints: configuration.jobDeclaratorEndpoints, policy: configuration.reconnectPolicy,
            eventLoop: eventLoop, logger: Logger(label: "stratum.jd-client.jds-link"))
        self.declaratorFailover = declaratorFailover
        declaratorFailover.drive(declaratorClient) { [weak self] state in
            if case .closed = state { self?.declaratorLost() }
        }
        startupTimer = eventLoop.schedule(after: configuration.startupTimeout) { [weak self] in
            guard let self, self.mode == .starting else { return }
            self.logger.warning("the pool opened no channel within \(self.configuration.startupTimeout): mining solo")
            self.startMining()
        }
        poolFailover.start()
        declaratorFailover.start()
    }

    /// Stops everything. Loop thread only.
    public func stop() {
        if let startupTimer { eventLoop.cancel(startupTimer) }
        startupTimer = nil
        poolFailover?.stop()
        declaratorFailover?.stop()
        poolClient?.close()
        declaratorClient?.close()
        local.stop()
    }

    // MARK: Mode

    private func startMining() {
        guard mode == .starting else { return }
        if let startupTimer { eventLoop.cancel(startupTimer) }
        startupTimer = nil
        mode = .solo
        do { try local.start() } catch { logger.critical("downstream server did not start: \(error)") }
        updateMode()
    }

    /// Pool mode when the channel is open and a token told the pool's outputs; solo otherwise.
    private func updateMode() {
        guard mode != .starting else { return }
        let poolReady = channelID != nil && poolOutputs != nil && declaratorClient?.isReady == true
        let wanted: Mode = poolReady ? .pool : .solo
        guard wanted != mode else { return }
        mode = wanted
        customJobs.removeAll()
        pendingJobs.removeAll()
        waitingWork = nil
        awaitingTransactions.removeAll()
        awaitingDeclaration.removeAll()
        let outputs: [TxOutput]
        if wanted == .pool {
            statistics.returns += 1
            outputs = poolOutputs!
            logger.notice("mining for the pool (custom jobs)")
        } else {
            statistics.fallbacks += 1
            outputs = [TxOutput(value: 0, script: configuration.local.payoutScript)]
            logger.warning("pool or JD server unavailable: mining solo")
        }
        do { try pool.setCoinbaseOutputs(outputs) } catch { logger.error("coinbase outputs: \(error)") }
    }

    func poolLost() {
        guard channelID != nil else { return }
        channelID = nil
        updateMode()
    }

    func declaratorLost() {
        updateMode()
    }

    // MARK: Pool channel (called by JobDeclaratorUpstreamHandler)

    func poolConnected(context: Sv2ClientContext) throws(Sv2ServiceError) {
        nextSequence = 0
        lastAcknowledged = 0
        let size = configuration.local.extranoncePrefixLength + configuration.local.extranonceRollableLength
        try context.send(OpenExtendedMiningChannel(
            requestID: 1, userIdentity: configuration.userIdentity, nominalHashRate: configuration.nominalHashrate,
            maxTarget: .max, minExtranonceSize: UInt16(size)))
    }

    func channelOpened(_ message: OpenExtendedMiningChannelSuccessView) throws(Sv2ServiceError) {
        guard let prefix = Extranonce(bytes: Array(message.extranoncePrefix)) else {
            throw .rejected("extranonce prefix longer than 32 bytes")
        }
        do { try pool.setUpstreamExtranonce(prefix: prefix, size: Int(message.extranonceSize)) } catch {
            throw .rejected("the pool's extranonce layout does not fit: \(error)")
        }
        channelID = message.channelID
        channelTarget = Target(U256Bridge.value(message.target))
        extranonceLength = prefix.count + Int(message.extranonceSize)
        statistics.channelsOpened += 1
        logger.info("pool channel \(message.channelID) open (prefix \(prefix), \(message.extranonceSize) bytes)")
        if mode == .starting { startMining() } else { updateMode() }
    }

    func channelRefused(_ code: String) throws(Sv2ServiceError) {
        throw .rejected("the pool refused the channel: \(code)")
    }

    func targetChanged(_ target: U256) {
        channelTarget = Target(U256Bridge.value(target))
    }

    func customJobAnswered(requestID: UInt32, jobID: UInt32?, code: String?) {
        guard let templateID = pendingJobs.removeValue(forKey: requestID) else { return }
        if let jobID {
            statistics.customJobsAccepted += 1
            customJobs[templateID] = jobID
            if customJobs.count > Self.maximumJobs, let oldest = customJobs.keys.min() { customJobs[oldest] = nil }
        } else {
            statistics.customJobRefusals[code ?? "", default: 0] += 1
            logger.error("the pool refused custom job for template \(templateID): \(code ?? "")")
        }
    }

    func sharesAcknowledged(through sequence: UInt32) {
        let advanced = sequence &- lastAcknowledged
        if advanced <= nextSequence { statistics.sharesAcknowledged += Int(advanced) }
        lastAcknowledged = sequence
    }

    func shareRejected(_ code: String) {
        statistics.shareRejections[code, default: 0] += 1
    }

    // MARK: Work and shares

    private func tokenArrived(_ token: JobDeclaratorClient.Token) {
        if poolOutputs == nil {
            guard let outputs = TxOutput.parseList(token.coinbaseOutputs), !outputs.isEmpty else {
                logger.error("the JD server sent unusable coinbase outputs")
                return
            }
            poolOutputs = outputs
        }
        // Also after the JD server came back: its tokens are what pool mode waits for.
        updateMode()
        if let (template, coinbase, tip) = waitingWork {
            waitingWork = nil
            work(template, coinbase, tip)
        }
    }

    /// New work on the local pool: declared to the pool as a custom job (pool mode); in full-template mode its
    /// transactions are fetched and declared to the JD server first.
    private func work(_ template: BlockTemplate, _ coinbase: Coinbase, _ tip: TemplateChainTip) {
        networkTarget = Target(compact: tip.nbits)
        guard mode == .pool, channelID != nil else { return }
        if configuration.declaresTransactions {
            // Through the pool, which routes the answer back here (its own found blocks ask on the same link).
            do { try pool.requestTransactionData(templateID: template.templateID) } catch {
                statistics.transactionDataFailures += 1
                logger.error("RequestTransactionData not sent: \(error)")
                return
            }
            awaitingTransactions[template.templateID] = (template, coinbase, tip)
            if awaitingTransactions.count > Self.maximumJobs, let oldest = awaitingTransactions.keys.min() {
                awaitingTransactions[oldest] = nil
            }
            return
        }
        guard let token = declarator.takeToken() else {
            waitingWork = (template, coinbase, tip)
            return
        }
        sendCustomJob(template, coinbase, tip, token: token.bytes)
    }

    /// Full-template mode: the template's transactions arrived; the job is declared with a fresh token.
    private func transactionData(_ templateID: UInt64, _ transactions: [[UInt8]]?, _ excessData: [UInt8]) {
        guard let (template, coinbase, tip) = awaitingTransactions.removeValue(forKey: templateID) else { return }
        guard let transactions else {
            statistics.transactionDataFailures += 1
            return
        }
        guard mode == .pool, let token = declarator.takeToken() else {
            statistics.transactionDataFailures += 1
            logger.warning("no mining job token to declare template \(templateID) with")
            return
        }
        let parts = coinbase.parts(witness: true)
        do {
            let requestID = try declarator.declare(
                version: template.version, coinbasePrefix: parts.prefix, coinbaseSuffix: parts.suffix,
                transactions: transactions, excessData: excessData, token: token.bytes)
            awaitingDeclaration[requestID] = (template, coinbase, tip)
            if awaitingDeclaration.count > Self.maximumJobs, let oldest = awaitingDeclaration.keys.min() {
                awaitingDeclaration[oldest] = nil
            }
        } catch {
            logger.error("DeclareMiningJob not sent: \(error)")
        }
    }

    /// A declaration was answered: accepted ones go to the pool with the new token.
    private func declared(_ requestID: UInt32, _ outcome: JobDeclaratorClient.Declaration) {
        guard let (template, coinbase, tip) = awaitingDeclaration.removeValue(forKey: requestID) else { return }
        switch outcome {
        case .accepted(let token):
            sendCustomJob(template, coinbase, tip, token: token)
        case .rejected(let code):
            statistics.declarationRefusals[code, default: 0] += 1
            logger.error("the JD server refused the declaration of template \(template.templateID): \(code)")
        case .pending:
            break
        }
    }

    private func sendCustomJob(_ template: BlockTemplate, _ coinbase: Coinbase, _ tip: TemplateChainTip, token: [UInt8]) {
        guard mode == .pool, let channelID, let poolClient else { return }
        let requestID = nextRequestID
        nextRequestID &+= 1
        var scriptSigPrefix = coinbase.scriptSigPrefix
        if !coinbase.tag.isEmpty { scriptSigPrefix += Script.push(coinbase.tag) }
        scriptSigPrefix.append(UInt8(coinbase.extranonceLength))  // OP_PUSHBYTES_n: the extranonce follows
        var outputs: [UInt8] = []
        CompactSize.append(UInt64(coinbase.outputCount), to: &outputs)
        outputs += coinbase.outputs
        let message = SetCustomMiningJob(
            channelID: channelID, requestID: requestID, miningJobToken: token, version: template.version,
            prevHash: U256Bridge.wire(tip.prevHash), minNtime: tip.headerTimestamp, nbits: tip.nbits,
            coinbaseTxVersion: coinbase.version, coinbasePrefix: scriptSigPrefix,
            coinbaseTxInputSequence: coinbase.sequence, coinbaseTxOutputs: outputs,
            coinbaseTxLocktime: coinbase.locktime, merklePath: template.merklePath.map(U256Bridge.wire))
        do { try poolClient.send(message) } catch {
            logger.error("SetCustomMiningJob not sent: \(error)")
            return
        }
        pendingJobs[requestID] = template.templateID
        if pendingJobs.count > Self.maximumJobs, let oldest = pendingJobs.keys.min() { pendingJobs[oldest] = nil }
        statistics.customJobsSent += 1
    }

    /// Full-template mode: a block is pushed to the JD server too (`PushSolution`), which may propagate it.
    private func blockFound(_ block: FoundBlock) {
        guard configuration.declaresTransactions, mode == .pool, declaratorClient?.isReady == true,
              let extranonce = Self.extranonce(of: block.coinbaseTransaction, length: extranonceLength)
        else { return }
        let header = block.header
        do {
            try declarator.pushSolution(PushSolution(
                extranonce: extranonce, prevHash: U256Bridge.wire(header.prevHash), nonce: header.nonce,
                ntime: header.ntime, nbits: header.nbits, version: header.version))
        } catch {
            logger.warning("PushSolution not sent: \(error)")
        }
    }

    /// The last `length` bytes of the scriptSig of a serialized coinbase (with or without BIP141 fields).
    static func extranonce(of transaction: [UInt8], length: Int) -> [UInt8]? {
        var offset = 4
        if transaction.count > 6, transaction[4] == 0x00, transaction[5] != 0x00 { offset += 2 }
        offset += 1 + 36  // one input, null outpoint
        guard offset < transaction.count,
              let (scriptLength, width) = CompactSize.read(transaction[offset...]),
              scriptLength >= UInt64(length), UInt64(transaction.count - offset - width) >= scriptLength
        else { return nil }
        let end = offset + width + Int(scriptLength)
        return Array(transaction[(end - length)..<end])
    }

    /// A downstream share: forwarded on its custom job when it meets the pool channel's target (or is a block).
    private func forward(_ share: AcceptedShare) {
        guard mode == .pool, let channelID, let poolClient, let jobID = customJobs[share.templateID] else { return }
        let prefix = pool.upstreamExtranoncePrefix
        guard channelTarget.isMet(by: share.hash) || networkTarget?.isMet(by: share.hash) == true,
              prefix.isPrefix(of: share.extranonce)
        else { return }
        nextSequence &+= 1
        do {
            try poolClient.send(SubmitSharesExtended(
                channelID: channelID, sequenceNumber: nextSequence, jobID: jobID, nonce: share.nonce,
                ntime: share.ntime, version: share.version,
                extranonce: Array(share.extranonce.bytes.dropFirst(prefix.count))))
            statistics.sharesForwarded += 1
        } catch {
            logger.warning("share not forwarded: \(error)")
        }
    }
}

/// The pool link's Mining handler: the extended channel the custom jobs go on.
public struct JobDeclaratorUpstreamHandler: Sv2MiningClientHandler {
    /// Weak: a message arriving while a released service's link drains is dropped, not a crash.
    weak var service: JobDeclaratorClientService?

    init(service: JobDeclaratorClientService) { self.service = service }

    /// Opens the extended channel.
    public mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try service?.poolConnected(context: context)
    }

    /// The pool is gone: solo until it is back.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        service?.poolLost()
    }

    /// The channel is open: the local extranonce layout moves inside it.
    public mutating func handle(_ message: OpenExtendedMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try service?.channelOpened(message)
    }

    /// The pool refused the channel: the link closes (and is retried).
    public mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try service?.channelRefused(String(decoding: message.errorCode, as: UTF8.self))
    }

    /// The pool's own jobs are not mined (the work is chosen here).
    public mutating func handle(_ message: NewExtendedMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {}

    /// See the pool's own jobs.
    public mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {}

    /// The channel's new target for forwarded shares.
    public mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        service?.targetChanged(message.maximumTarget)
    }

    /// A custom job accepted.
    public mutating func handle(_ message: SetCustomMiningJobSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        service?.customJobAnswered(requestID: message.requestID, jobID: message.jobID, code: nil)
    }

    /// A custom job refused.
    public mutating func handle(_ message: SetCustomMiningJobErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        service?.customJobAnswered(
            requestID: message.requestID, jobID: nil, code: String(decoding: message.errorCode, as: UTF8.self))
    }

    /// Forwarded shares acknowledged.
    public mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        service?.sharesAcknowledged(through: message.lastSequenceNumber)
    }

    /// A forwarded share refused.
    public mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        service?.shareRejected(String(decoding: message.errorCode, as: UTF8.self))
    }

    /// The channel was closed by the pool: the link is dropped and reopened.
    public mutating func handle(_ message: CloseChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        throw .rejected("the pool closed the channel")
    }
}

/// Wire `U256` ↔ `Hash256` / `Target` (byte copies; the mining module's own helper is internal to it).
enum U256Bridge {
    static func value(_ value: U256) -> UInt256 {
        UInt256(w0: value.limbs.0, w1: value.limbs.1, w2: value.limbs.2, w3: value.limbs.3)
    }

    static func wire(_ hash: Hash256) -> U256 { JobDeclarationWire.u256(hash) }
}
