public import Logging
public import Reactor
import Sv2Codec
public import Sv2Service
import Glibc
import Sv2Bitcoin
public import Sv2Mining

/// A client that mines with a `MinerSession`: `client.mining.session` holds its state and statistics.
public typealias MinerClient =
    Sv2Client<MinerHandler, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// The state of one CPU miner connected to one upstream: its channel, job tracking, share building, the worker
/// threads and the statistics. Loop thread only.
///
/// The `MinerHandler` the client runs forwards every upstream message here; shares found by the workers come back
/// through `eventLoop.execute` and are submitted through the client passed to `attach(_:)` — stale ones (their
/// job or chain tip was replaced meanwhile) are dropped.
///
/// ```swift
/// let client = try MinerSession.makeClient(
///     configuration: MinerConfiguration(userIdentity: "alice", cpu: .init(workerCount: 2)),
///     server: Sv2ClientConfiguration(serverAddress: pool, sv2Protocol: .mining, security: .noise(authority: key)),
///     eventLoop: loop)
/// client.mining.session.onEvent = { print($0) }
/// client.connect()
/// ```
public final class MinerSession {
    /// The configuration it was created with.
    public let configuration: MinerConfiguration
    /// The loop it runs on.
    public let eventLoop: EventLoop
    /// What happened so far.
    public private(set) var statistics = MinerStatistics()
    /// The channel state, once the channel is open.
    public private(set) var tracker: MinerJobTracker?
    /// Called on the loop thread for everything worth showing.
    public var onEvent: ((MinerEvent) -> Void)?
    /// The share builder (sequence numbers, pending count).
    public private(set) var builder = ShareBuilder()
    /// Accepted shares counted from `last_sequence_number` progress (the upstream's count may be cumulative).
    public private(set) var acknowledgements = ShareAcknowledgementCounter()
    private var cpu: CPUMiner?
    private var groupChannelID: UInt32?
    private var sendStandard: ((SubmitSharesStandard) throws(Sv2ServiceError) -> Void)?
    private var sendExtended: ((SubmitSharesExtended) throws(Sv2ServiceError) -> Void)?
    private var pendingWriteBytes: (() -> Int)?
    /// Whether shares are being dropped for congestion (logged once per episode, not per share).
    private var congested = false
    private var hashrateTimer: TimerHandle?
    private var lastSample: (hashes: UInt64, time: UInt64) = (0, 0)
    private var lastPublished: (jobID: UInt32, prevHash: Hash256, ntime: UInt32)?
    private let logger: Logger

    /// Creates a session; threads start when the connection is set up.
    public init(
        configuration: MinerConfiguration, eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.miner")
    ) throws(CPUMinerError) {
        try configuration.validate()
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// The handler to give the client.
    public var handler: MinerHandler { MinerHandler(session: self) }

    /// Creates the session and its client on `eventLoop` in one call (then `client.connect()`).
    public static func makeClient(
        configuration: MinerConfiguration, server: Sv2ClientConfiguration, eventLoop: EventLoop,
        logger: Logger = Logger(label: "stratum.miner")
    ) throws(Sv2ServiceError) -> MinerClient {
        let session: MinerSession
        do { session = try MinerSession(configuration: configuration, eventLoop: eventLoop, logger: logger) } catch {
            throw .invalidConfiguration("\(error)")
        }
        var server = server
        if configuration.channelType == .standard { server.flags |= Sv2SetupFlags.Mining.requiresStandardJobs }
        let client = try MinerClient(
            configuration: server, eventLoop: eventLoop, mining: session.handler,
            jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: NullSv2TemplateDistributionClientHandler(), logger: logger)
        session.attach(client)
        return client
    }

    /// Routes found shares through `client` (needed when the client was not made by `makeClient`).
    public func attach<JobDeclaration, TemplateDistribution>(
        _ client: Sv2Client<MinerHandler, JobDeclaration, TemplateDistribution>
    ) {
        // Weak: worker threads may still hand in shares after the app released the client.
        sendStandard = { [weak client] (message) throws(Sv2ServiceError) in
            guard let client else { throw .notConnected }
            try client.send(message)
        }
        sendExtended = { [weak client] (message) throws(Sv2ServiceError) in
            guard let client else { throw .notConnected }
            try client.send(message)
        }
        pendingWriteBytes = { [weak client] in client?.pendingWriteBytes ?? 0 }
    }

    /// Stops the workers and the hashrate timer (the connection stays as it is).
    public func stop() {
        cpu?.stop()
        cpu = nil
        if let hashrateTimer { eventLoop.cancel(hashrateTimer) }
        hashrateTimer = nil
    }

    /// Headers hashed by each worker thread.
    public var hashesPerWorker: [UInt64] { cpu?.hashesPerWorker ?? [] }

    /// Shares the worker threads dropped because the loop had not taken the earlier ones yet.
    public var cpuDroppedShares: UInt64 { cpu?.droppedShares ?? 0 }

    // MARK: Upstream messages (called by MinerHandler)

    func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        let maxTarget = WireConversions.u256(configuration.maxTarget)
        switch configuration.channelType {
        case .standard:
            try context.send(OpenStandardMiningChannel(
                requestID: 1, userIdentity: configuration.userIdentity,
                nominalHashRate: configuration.nominalHashrate, maxTarget: maxTarget))
        case .extended:
            try context.send(OpenExtendedMiningChannel(
                requestID: 1, userIdentity: configuration.userIdentity,
                nominalHashRate: configuration.nominalHashrate, maxTarget: maxTarget,
                minExtranonceSize: configuration.minExtranonceSize))
        }
    }

    func connectionDidClose() {
        stop()
        tracker = nil
    }

    func channelOpened(_ tracker: MinerJobTracker, groupChannelID: UInt32) throws(Sv2ServiceError) {
        self.tracker = tracker
        self.groupChannelID = groupChannelID == 0 ? nil : groupChannelID
        acknowledgements = ShareAcknowledgementCounter(firstSequenceNumber: builder.nextSequenceNumber)
        statistics.channelID = tracker.channelID
        statistics.extranoncePrefix = tracker.extranoncePrefix
        statistics.target = tracker.target
        logger.info("channel \(tracker.channelID) open, target \(tracker.target), prefix \(tracker.extranoncePrefix)")
        onEvent?(.channelOpened(
            channelID: tracker.channelID, target: tracker.target, extranoncePrefix: tracker.extranoncePrefix))
        try startWorkers()
    }

    func channelRefused(code: String) {
        statistics.channelError = code
        logger.error("channel refused: \(code)")
        onEvent?(.channelRefused(code: code))
    }

    /// Applies a channel message to the tracker; `body` returns whether the work changed.
    func update(
        channel: UInt32, _ body: (inout MinerJobTracker) throws(MinerJobError) -> Bool
    ) throws(Sv2ServiceError) {
        guard var tracker, channel == tracker.channelID || channel == groupChannelID else {
            throw .unknownChannel(channel)
        }
        let changed: Bool
        do { changed = try body(&tracker) } catch { throw .rejected("\(error)") }
        self.tracker = tracker
        statistics.target = tracker.target
        statistics.extranoncePrefix = tracker.extranoncePrefix
        if changed { publishWork() }
    }

    func countJob() { statistics.jobsReceived += 1 }
    func countPrevHash() { statistics.prevHashesReceived += 1 }

    func sharesAccepted(_ message: SubmitSharesSuccessView) {
        let wasCumulative = acknowledgements.semantics.isCumulative
        let delta = acknowledgements.succeeded(
            lastSequenceNumber: message.lastSequenceNumber, count: message.newSubmitsAcceptedCount,
            sum: message.newSharesSum)
        if !wasCumulative && acknowledgements.semantics.isCumulative {
            logger.notice("upstream reports cumulative share counts (totals since the channel opened); counting from sequence numbers")
        } else if !delta.countAgreed {
            logger.debug("SubmitShares.Success up to \(message.lastSequenceNumber) counts \(message.newSubmitsAcceptedCount), sequence numbers say \(delta.accepted)")
        }
        builder.acknowledge(delta.accepted)
        statistics.sharesAccepted += Int(delta.accepted)
        statistics.acceptedWork &+= delta.work
        onEvent?(.sharesAccepted(count: delta.accepted, lastSequenceNumber: message.lastSequenceNumber))
    }

    func shareRejected(_ message: SubmitSharesErrorView) {
        let code = String(decoding: message.errorCode, as: UTF8.self)
        builder.acknowledge(1)
        acknowledgements.rejected(sequenceNumber: message.sequenceNumber)
        statistics.sharesRejected += 1
        statistics.rejections[code, default: 0] += 1
        logger.notice("share \(message.sequenceNumber) rejected: \(code)")
        onEvent?(.shareRejected(sequenceNumber: message.sequenceNumber, code: code))
    }

    func channelClosed(_ message: CloseChannelView) {
        guard let tracker, message.channelID == tracker.channelID || message.channelID == groupChannelID else { return }
        let code = String(decoding: message.reasonCode, as: UTF8.self)
        cpu?.setWork(nil)
        self.tracker = nil
        statistics.channelID = nil
        onEvent?(.channelClosed(code: code))
    }

    // MARK: Workers

    private func startWorkers() throws(Sv2ServiceError) {
        guard cpu == nil else { return }
        do {
            let cpu = try CPUMiner(configuration: configuration.cpu, eventLoop: eventLoop) { [weak self] found in
                self?.found(found)
            }
            try cpu.start()
            self.cpu = cpu
        } catch {
            throw .rejected("\(error)")
        }
        lastSample = (0, eventLoop.now)
        scheduleHashrate()
    }

    private func publishWork() {
        guard let tracker, let job = tracker.work else {
            cpu?.setWork(nil)
            return
        }
        var ntime = UInt32(truncatingIfNeeded: time(nil))
        // The same job again (e.g. a harder target): start on a later second, or the workers would re-find the
        // shares already submitted and the pool would reject them as duplicates.
        if let last = lastPublished, last.jobID == job.jobID, last.prevHash == job.prevHash {
            ntime = Swift.max(ntime, last.ntime &+ 1)
        }
        let work = MiningWork(job: job, extranonceSize: tracker.extranonceSize, ntime: ntime)
        lastPublished = (job.jobID, job.prevHash, work.ntime)
        cpu?.setWork(work)
        statistics.workUpdates += 1
        onEvent?(.newWork(jobID: job.jobID, target: job.target))
    }

    /// Submits a share a worker found (internal so tests can hand in a share exactly as a worker would).
    func found(_ found: FoundShare) {
        statistics.sharesFound += 1
        let isBlock = found.isBlock
        // A share of a replaced job is late; a block of a replaced job on the same chain tip is still a block (the
        // pool keeps a tip's recent jobs valid, and checks its retired ones for blocks): it goes out.
        guard let tracker,
              tracker.isCurrent(jobID: found.share.jobID, prevHash: found.job.prevHash)
                || (isBlock && tracker.chainTip?.prevHash == found.job.prevHash)
        else {
            statistics.staleSharesDropped += 1
            if isBlock { logger.notice("block on a previous chain tip dropped (stale): \(found.hash)") }
            return
        }
        guard isBlock || tracker.workTarget.isMet(by: found.hash) else {
            statistics.staleSharesDropped += 1  // mined against a target that has since become harder
            return
        }
        // Shed load at the source: a share that would wait behind this much unsent data is late anyway, and
        // queueing without bound ends with the write buffer overflowing and the connection closed.
        //
        // A block is never shed. It is written behind the backlog at once (frames cannot be reordered: the
        // transport is one ordered, encrypted stream), into the headroom between `maxPendingShareBytes` and the
        // reactor's write-buffer cap that ordinary shares never use. If even that cap is reached the reactor
        // closes the connection: the link has failed, and the block is reported as not sent (below). It is not
        // kept for the next connection: a share is bound to its channel's job and extranonce prefix, which a new
        // channel does not share, so it could never be valid there.
        let backlog = pendingWriteBytes?() ?? 0
        if backlog > configuration.maxPendingShareBytes {
            if !isBlock {
                statistics.sharesDroppedCongested += 1
                if !congested {
                    congested = true
                    logger.notice("link congested (\(backlog) bytes unsent): dropping shares until it drains")
                }
                return
            }
            statistics.blocksSentCongested += 1
            logger.notice("link congested (\(backlog) bytes unsent): sending a block anyway")
        } else if congested {
            congested = false
            logger.notice("link drained: \(statistics.sharesDroppedCongested) shares dropped so far")
        }
        let sequenceNumber = builder.nextSequenceNumber
        do throws(Sv2ServiceError) {
            switch tracker.kind {
            case .standard:
                try sendStandard?(builder.standard(channelID: tracker.channelID, share: found.share))
            case .extended:
                try sendExtended?(builder.extended(channelID: tracker.channelID, share: found.share))
            }
        } catch {
            if isBlock {
                // The one record of a lost block: everything needed to rebuild its header from the job.
                statistics.blocksNotSent += 1
                logger.error("""
                    BLOCK NOT SENT (\(error)): hash \(found.hash), channel \(tracker.channelID), job \(found.share.jobID), \
                    nonce \(found.share.nonce), ntime \(found.share.ntime), version \(found.share.version), \
                    extranonce \(found.share.extranonce)
                    """)
                return
            }
            // After a disconnect every share found until the workers stop lands here: not worth a line each.
            if error == .notConnected { logger.debug("share not sent: \(error)") } else { logger.warning("share not sent: \(error)") }
            // Its sequence number is used up: no acknowledgement will count it as accepted.
            builder.acknowledge(1)
            acknowledgements.rejected(sequenceNumber: sequenceNumber)
            return
        }
        statistics.sharesSubmitted += 1
        onEvent?(.shareSubmitted(sequenceNumber: sequenceNumber, jobID: found.share.jobID, hash: found.hash))
        if isBlock {
            statistics.blocksFound += 1
            logger.notice("block found: \(found.hash)")
            onEvent?(.blockFound(hash: found.hash))
        }
    }

    private func scheduleHashrate() {
        hashrateTimer = eventLoop.schedule(after: configuration.hashrateInterval) { [weak self] in
            guard let self, let cpu = self.cpu else { return }
            let hashes = cpu.totalHashes
            let now = self.eventLoop.now
            let seconds = Double(now &- self.lastSample.time) / 1e9
            if seconds > 0 { self.statistics.hashrate = Double(hashes &- self.lastSample.hashes) / seconds }
            self.statistics.totalHashes = hashes
            self.lastSample = (hashes, now)
            self.onEvent?(.hashrate(self.statistics.hashrate))
            self.scheduleHashrate()
        }
    }
}
