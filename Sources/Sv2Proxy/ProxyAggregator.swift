public import Logging
public import Reactor
public import Sv2Service
import Sv2Codec
import Sv2Bitcoin
public import Sv2Mining

/// The Mining server miners connect to.
public typealias ProxyServer =
    Sv2Server<ProxyDownstreamHandler, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
/// The proxy's sibling client to the pool.
public typealias ProxyUpstreamClient =
    Sv2Client<ProxyUpstreamHandler, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// A Mining proxy that aggregates many downstream standard channels into ONE upstream extended channel.
///
/// - Upstream: a sibling `Sv2Client` opens one extended channel; its extranonce prefix `P` and size `S` are split
///   between downstream channels: each gets the prefix `P ‖ local id` (from an `ExtranonceAllocator` over `P`,
///   zero-padded to `S` bytes) so no two miners ever search the same coinbase.
/// - Jobs: every upstream `NewExtendedMiningJob` becomes one `NewMiningJob` per downstream channel (the coinbase
///   with that channel's prefix gives its merkle root); `SetNewPrevHash` is relayed per channel. Job ids are kept.
/// - Shares: validated locally against the downstream target (with the exact header the pool will rebuild); a
///   valid share that also meets the upstream target becomes a `SubmitSharesExtended` (extranonce = the channel's
///   `local id ‖ padding`), the rest are acknowledged by the proxy. The pool's acknowledgements (batched or not,
///   per-batch or cumulative counts) are counted from sequence numbers, split per downstream channel and relayed
///   in each channel's submission order with per-batch counts (`DownstreamAckQueue`); its errors go to the miner
///   whose share it was. A share the
///   upstream link cannot take (closed, or more than 1 MiB already waiting) is answered `upstream-unavailable`:
///   upstream trouble never closes a miner's connection. A share that meets the network target (a block) is never
///   shed for congestion: it is forwarded past the 1 MiB mark, into headroom ordinary shares never use.
/// - `SetExtranoncePrefix` on the upstream channel is followed from the channel's next job on: every downstream
///   channel's prefix moves under the new one (same local id), while the running job keeps the old one until a
///   later job becomes active (see `upstreamExtranoncePrefix(channel:prefix:)`).
///
/// Loop thread only. Keep the aggregator alive while it runs; `stop()` closes both sides.
///
/// ```swift
/// let proxy = try ProxyAggregator.start(configuration: ProxyConfiguration(
///     downstream: Sv2ServerConfiguration(listenAddress: listen, noise: identity),
///     upstream: Sv2ClientConfiguration(serverAddress: pool, sv2Protocol: .mining, security: .noise(authority: key)),
///     userIdentity: "farm-1"), eventLoop: loop)
/// proxy.onEvent = { print($0) }
/// ```
public final class ProxyAggregator {
    /// The configuration it was started with.
    public let configuration: ProxyConfiguration
    /// The loop it runs on.
    public let eventLoop: EventLoop
    /// What happened so far.
    public private(set) var statistics = ProxyStatistics()
    /// Called on the loop thread for everything worth showing.
    public var onEvent: ((ProxyEvent) -> Void)?
    /// The downstream server (nil until `start`).
    public private(set) var server: ProxyServer?
    /// The upstream client (nil until `start`).
    public private(set) var upstream: ProxyUpstreamClient?

    /// The upstream channel's job state (jobs, chain tip, target, prefix), once open.
    public private(set) var upstreamChannel: MinerJobTracker?
    private var upstreamGroupID: UInt32?
    /// A prefix from `SetExtranoncePrefix` waiting for the upstream channel's next job.
    private var pendingPrefix: Extranonce?
    private var allocator: ExtranonceAllocator?
    private var channels: [UInt32: ProxyChannel] = [:]
    private var nextChannelID: UInt32 = 1
    private var pendingOpens: [PendingOpen] = []
    private var inFlight: [InFlightShare] = []
    private var inFlightHead = 0
    private var builder = ShareBuilder()
    /// How the upstream channel's SubmitShares.Success counts (spec deltas or SRI's totals).
    public private(set) var upstreamSemantics = SubmitSuccessSemantics()
    private let logger: Logger

    private struct PendingOpen {
        let connection: Sv2ConnectionID
        let requestID: UInt32
        let user: String
        let nominalHashrate: Float
        let maxTarget: Target
    }

    private struct InFlightShare {
        let upstreamSequence: UInt32
        let channelID: UInt32
        let downstreamSequence: UInt32
        var settled = false
    }

    /// Creates an aggregator without starting anything (see `start(configuration:eventLoop:logger:)`).
    public init(
        configuration: ProxyConfiguration, eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.proxy")
    ) throws(Sv2ServiceError) {
        try configuration.validate()
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Creates the downstream server and the sibling upstream client on `eventLoop`, connects upstream and starts
    /// listening — one call. Loop thread (or before the loop runs).
    public static func start(
        configuration: ProxyConfiguration, eventLoop: EventLoop, logger: Logger = Logger(label: "stratum.proxy")
    ) throws(Sv2ServiceError) -> ProxyAggregator {
        let proxy = try ProxyAggregator(configuration: configuration, eventLoop: eventLoop, logger: logger)
        try proxy.start()
        return proxy
    }

    /// Creates and starts both sides (once).
    public func start() throws(Sv2ServiceError) {
        guard server == nil else { return }
        let server = try ProxyServer(
            configuration: configuration.downstream, eventLoop: eventLoop, mining: ProxyDownstreamHandler(proxy: self),
            jobDeclaration: NullSv2JobDeclarationServerHandler(),
            templateDistribution: NullSv2TemplateDistributionServerHandler(), logger: logger)
        let upstream = try server.makeSiblingClient(
            configuration: configuration.upstream, mining: ProxyUpstreamHandler(proxy: self),
            jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: NullSv2TemplateDistributionClientHandler(), logger: logger)
        let endpoints = configuration.upstreamEndpoints.isEmpty
            ? [Endpoint(configuration.upstream.serverAddress)] : configuration.upstreamEndpoints
        let failover = try Sv2Failover(
            endpoints: endpoints, policy: configuration.reconnectPolicy, eventLoop: eventLoop,
            logger: Logger(label: "stratum.proxy.upstream-link"))
        failover.drive(upstream)
        self.server = server
        self.upstream = upstream
        self.upstreamFailover = failover
        failover.start()
        try server.start()
    }

    /// Closes every downstream connection and the upstream connection.
    public func stop() {
        upstreamFailover?.stop()
        server?.stop()
        upstream?.close()
    }

    /// The upstream link's reconnect/fail-over state (after ``start()``).
    public private(set) var upstreamFailover: Sv2Failover?

    /// The address miners connect to (useful with port 0).
    public var localAddress: SocketAddress? { server?.localAddress }

    /// Extranonce prefixes of the open downstream channels, by channel id.
    public var downstreamPrefixes: [UInt32: Extranonce] { channels.mapValues(\.prefix) }

    // MARK: Upstream (called by ProxyUpstreamHandler)

    func upstreamDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(OpenExtendedMiningChannel(
            requestID: 1, userIdentity: configuration.userIdentity, nominalHashRate: configuration.nominalHashrate,
            maxTarget: .max, minExtranonceSize: UInt16(configuration.localPrefixLength)))
    }

    /// The upstream link is gone. Miners stay connected: their shares are answered `upstream-unavailable` until a
    /// new upstream channel is open (``Sv2Failover`` reconnects), shares the pool had not answered yet are answered
    /// `upstream-unavailable` now (their acknowledgement can never come), and channel opens wait (bounded).
    func upstreamDidClose() {
        logger.warning("upstream connection closed; holding \(channels.count) downstream channels while reconnecting")
        upstreamChannel = nil
        pendingPrefix = nil
        statistics.upstreamChannelID = nil
        statistics.upstreamLosses += 1
        builder = ShareBuilder()
        let unanswered = inFlight[inFlightHead...].filter { !$0.settled }
        inFlight.removeAll(keepingCapacity: true)
        inFlightHead = 0
        for entry in unanswered {
            guard var channel = channels[entry.channelID] else { continue }
            _ = channel.acks.settle(entry.downstreamSequence, .rejected)
            channels[entry.channelID] = channel
            statistics.rejections[Self.upstreamUnavailable, default: 0] += 1
            sendDownstream(SubmitSharesError(
                channelID: entry.channelID, sequenceNumber: entry.downstreamSequence, errorCode: Self.upstreamUnavailable),
                to: channel.connection)
            flushAcks(channel: entry.channelID)
        }
    }

    func upstreamChannelOpened(_ tracker: MinerJobTracker, groupChannelID: UInt32) throws(Sv2ServiceError) {
        let size = tracker.extranonceSize
        guard size >= 1 else { throw .rejected("upstream gave an extranonce size of 0: nothing to split") }
        allocator = try Self.allocator(for: tracker)
        upstreamChannel = tracker
        pendingPrefix = nil
        upstreamGroupID = groupChannelID == 0 ? nil : groupChannelID
        upstreamSemantics = SubmitSuccessSemantics()
        statistics.upstreamChannelError = nil
        reprefixChannels(tracker)
        statistics.upstreamChannelID = tracker.channelID
        statistics.upstreamExtranoncePrefix = tracker.extranoncePrefix
        statistics.upstreamExtranonceSize = size
        logger.info("upstream channel \(tracker.channelID) open: prefix \(tracker.extranoncePrefix), \(size) bytes to split")
        onEvent?(.upstreamChannelOpened(
            channelID: tracker.channelID, extranoncePrefix: tracker.extranoncePrefix, extranonceSize: size))
        let waiting = pendingOpens
        pendingOpens.removeAll()
        for open in waiting { openChannel(open) }
    }

    func upstreamChannelRefused(code: String) {
        statistics.upstreamChannelError = code
        logger.error("upstream refused the channel: \(code)")
        onEvent?(.upstreamChannelRefused(code: code))
        let waiting = pendingOpens
        pendingOpens.removeAll()
        for open in waiting {
            sendDownstream(OpenMiningChannelError(requestID: open.requestID, errorCode: "upstream-channel-refused"),
                           to: open.connection)
        }
    }

    /// Splits `tracker`'s extranonce space: up to 8 bytes of local id per downstream channel, the rest padding. It
    /// hands out bare local ids (no upstream prefix in front): a channel's id and its upstream extranonce
    /// (`local id ‖ padding`) stay the same across a `SetExtranoncePrefix`, whatever the new prefix's length.
    private static func allocator(for tracker: MinerJobTracker) throws(Sv2ServiceError) -> ExtranonceAllocator {
        let localLength = Swift.min(tracker.extranonceSize, 8)
        do {
            return try ExtranonceAllocator(localLength: localLength, totalLength: localLength)
        } catch {
            throw .rejected("\(error)")
        }
    }

    /// `SetExtranoncePrefix` for the upstream channel: recorded, not applied. The spec makes a new prefix apply to
    /// jobs sent after the message, so until the channel's next job arrives the downstream channels keep their
    /// prefixes and their shares are validated and forwarded on the old one; that job then moves them under the new
    /// one (``applyPendingPrefix()``), and even then the jobs sent before keep the old prefix.
    func upstreamExtranoncePrefix(channel: UInt32, prefix bytes: Sv2Bytes) throws(Sv2ServiceError) {
        guard let tracker = upstreamChannel, channel == tracker.channelID else { throw .unknownChannel(channel) }
        guard let prefix = Extranonce(copying: bytes), prefix.count + tracker.extranonceSize <= Extranonce.maxLength else {
            throw .rejected(
                "SetExtranoncePrefix: \(bytes.count)-byte prefix and \(tracker.extranonceSize) bytes to split exceed 32")
        }
        pendingPrefix = prefix
        logger.info("upstream channel \(channel): new extranonce prefix \(prefix) from its next job on")
    }

    /// The upstream channel's next job arrived after a `SetExtranoncePrefix`: that job and the later ones are under
    /// the new prefix. Every downstream channel keeps its local id (so its upstream extranonce) and its jobs; its
    /// prefix for the jobs sent from now on moves under the new upstream prefix, announced with
    /// `SetExtranoncePrefix` downstream (which, per the spec, applies to the jobs sent after it). The running job
    /// keeps the prefix it was sent under (``MinerJobTracker/activeExtranoncePrefix``): if the new job is a future
    /// one, the miners go on with the running job, their shares checked and credited under the old prefix, until
    /// its `SetNewPrevHash`; a job active at once replaces it at once.
    private func applyPendingPrefix() throws(Sv2ServiceError) {
        guard let prefix = pendingPrefix, var tracker = upstreamChannel else { return }
        pendingPrefix = nil
        do { try tracker.setExtranoncePrefix(prefix) } catch { throw .rejected("SetExtranoncePrefix: \(error)") }
        upstreamChannel = tracker
        statistics.upstreamExtranoncePrefix = prefix
        statistics.upstreamExtranoncePrefixChanges += 1
        logger.info("upstream channel \(tracker.channelID): extranonce prefix now \(prefix) for its jobs from now on")
        onEvent?(.upstreamExtranoncePrefixChanged(extranoncePrefix: prefix))
        for id in channels.keys.sorted() {
            guard var channel = channels[id] else { continue }
            channel.prefix = channel.prefix(under: prefix)
            channels[id] = channel
            sendDownstream(SetExtranoncePrefix(channelID: id, extranoncePrefix: channel.prefix.bytes), to: channel.connection)
        }
    }

    func upstreamJob(_ job: MinerJob, channel: UInt32) throws(Sv2ServiceError) {
        if channel == upstreamChannel?.channelID || channel == upstreamGroupID { try applyPendingPrefix() }
        try updateUpstream(channel: channel) { (tracker) throws(MinerJobError) in _ = try tracker.receive(job) }
        statistics.jobsReceived += 1
        guard let upstreamPrefix = upstreamChannel?.extranoncePrefix else { return }  // the job's
        for id in channels.keys.sorted() {
            guard var downstream = channels[id] else { continue }
            let root = downstream.merkleRoot(of: job, under: upstreamPrefix)
            sendDownstream(NewMiningJob(
                channelID: id, jobID: job.jobID, minNtime: job.minNtime, version: job.version,
                merkleRoot: WireConversions.u256(root)), to: downstream.connection)
            statistics.jobsSent += 1
            if !job.isFuture, let tip = upstreamChannel?.chainTip {
                downstream.validator.activate(
                    downstream.shareJob(for: job, on: tip, under: upstreamPrefix), newChainTip: false)
                channels[id] = downstream
            }
        }
    }

    func upstreamPrevHash(_ message: SetNewPrevHashView) throws(Sv2ServiceError) {
        try updateUpstream(channel: message.channelID) { (tracker) throws(MinerJobError) in _ = try tracker.receive(message) }
        statistics.prevHashesReceived += 1
        guard let tracker = upstreamChannel, let job = tracker.activeJob, let tip = tracker.chainTip else { return }
        for id in channels.keys.sorted() {
            guard var downstream = channels[id] else { continue }
            sendDownstream(SetNewPrevHash(
                channelID: id, jobID: job.jobID, prevHash: message.prevHash, minNtime: message.minNtime,
                nbits: message.nbits), to: downstream.connection)
            downstream.validator.activate(
                downstream.shareJob(for: job, on: tip, under: tracker.activeExtranoncePrefix), newChainTip: true)
            channels[id] = downstream
        }
    }

    func upstreamTarget(_ target: Target, channel: UInt32) throws(Sv2ServiceError) {
        try updateUpstream(channel: channel) { (tracker) throws(MinerJobError) in _ = tracker.setTarget(target) }
    }

    func upstreamAccepted(_ message: SubmitSharesSuccessView) {
        // Everything up to last_sequence_number not already rejected was accepted; split the ack per channel.
        // The count comes from that progress, never from the message's count field: SRI's pool reports totals
        // since the channel opened there (the spec says: since the last acknowledgement). Downstream always gets
        // the spec's reading (per-batch counts), whatever the upstream sends.
        var touched: Set<UInt32> = []
        var acknowledged: UInt32 = 0
        while inFlightHead < inFlight.count,
              Int32(bitPattern: inFlight[inFlightHead].upstreamSequence &- message.lastSequenceNumber) <= 0 {
            let entry = inFlight[inFlightHead]
            inFlightHead += 1
            if entry.settled { continue }
            acknowledged &+= 1
            if channels[entry.channelID]?.acks.settle(entry.downstreamSequence, .accepted) == true {
                touched.insert(entry.channelID)
            }
        }
        compactInFlight()
        let wasCumulative = upstreamSemantics.isCumulative
        _ = upstreamSemantics.interpret(
            count: message.newSubmitsAcceptedCount, sum: message.newSharesSum, acknowledged: acknowledged)
        if !wasCumulative && upstreamSemantics.isCumulative {
            logger.notice("upstream reports cumulative share counts (totals since the channel opened); counting from sequence numbers")
        }
        statistics.upstreamAccepted += Int(acknowledged)
        onEvent?(.upstreamAccepted(count: acknowledged))
        for id in touched.sorted() { flushAcks(channel: id) }
    }

    /// Sends one `SubmitShares.Success` for the channel's settled shares at the head of its queue (spec reading:
    /// the accepted shares since the previous acknowledgement, up to the last of them).
    private func flushAcks(channel id: UInt32) {
        guard var channel = channels[id] else { return }
        let settled = channel.acks.takeSettled()
        channels[id] = channel
        guard let settled else { return }
        sendDownstream(SubmitSharesSuccess(
            channelID: id, lastSequenceNumber: settled.last, newSubmitsAcceptedCount: settled.count,
            newSharesSum: UInt64(settled.count) * channel.shareWeight), to: channel.connection)
    }

    func upstreamRejected(_ message: SubmitSharesErrorView) {
        let code = String(decoding: message.errorCode, as: UTF8.self)
        statistics.upstreamRejected += 1
        statistics.rejections[code, default: 0] += 1
        guard let index = inFlight[inFlightHead...].firstIndex(where: {
            $0.upstreamSequence == message.sequenceNumber && !$0.settled
        }) else { return }
        inFlight[index].settled = true
        let entry = inFlight[index]
        logger.notice("pool rejected share \(entry.downstreamSequence) of channel \(entry.channelID): \(code)")
        onEvent?(.upstreamRejected(channelID: entry.channelID, code: code))
        guard var channel = channels[entry.channelID] else { return }
        _ = channel.acks.settle(entry.downstreamSequence, .rejected)
        channels[entry.channelID] = channel
        sendDownstream(SubmitSharesError(
            channelID: entry.channelID, sequenceNumber: entry.downstreamSequence, errorCode: code),
            to: channel.connection)
        flushAcks(channel: entry.channelID)
    }

    private func updateUpstream(
        channel: UInt32, _ body: (inout MinerJobTracker) throws(MinerJobError) -> Void
    ) throws(Sv2ServiceError) {
        guard var tracker = upstreamChannel, channel == tracker.channelID || channel == upstreamGroupID else {
            throw .unknownChannel(channel)
        }
        do { try body(&tracker) } catch { throw .rejected("\(error)") }
        upstreamChannel = tracker
    }

    private func compactInFlight() {
        if inFlightHead == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            inFlightHead = 0
        } else if inFlightHead > 1024, inFlightHead * 2 > inFlight.count {
            inFlight.removeFirst(inFlightHead)
            inFlightHead = 0
        }
    }

    // MARK: Downstream (called by ProxyDownstreamHandler)

    func openStandard(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) {
        let open = PendingOpen(
            connection: context.connectionID, requestID: message.requestID,
            user: String(decoding: message.userIdentity, as: UTF8.self), nominalHashrate: message.nominalHashRate,
            maxTarget: WireConversions.target(message.maxTarget))
        if upstreamChannel == nil {
            if let code = statistics.upstreamChannelError {
                sendDownstream(OpenMiningChannelError(requestID: open.requestID, errorCode: "upstream-channel-refused"),
                               to: open.connection)
                logger.info("refusing channel: upstream refused ours (\(code))")
            } else if pendingOpens.count < configuration.maxPendingOpens {
                pendingOpens.append(open)  // answered once the upstream channel is open
            } else {
                sendDownstream(OpenMiningChannelError(requestID: open.requestID, errorCode: Self.upstreamUnavailable),
                               to: open.connection)
            }
            return
        }
        openChannel(open)
    }

    /// A new upstream channel (after a reconnect or fail-over): every downstream channel gets a new local id and
    /// prefix on it, its old jobs are dropped (new ones follow from the upstream), and the miner is told with
    /// `ChannelEndpointChanged`.
    private func reprefixChannels(_ tracker: MinerJobTracker) {
        guard !channels.isEmpty, var allocator else { return }
        for id in channels.keys.sorted() {
            guard var channel = channels[id] else { continue }
            guard let allocated = try? allocator.allocate() else {
                logger.error("channel \(id): no extranonce prefix left on the new upstream channel; closing it")
                channels[id] = nil
                sendDownstream(CloseChannel(channelID: id, reasonCode: "extranonce-space-exhausted"), to: channel.connection)
                continue
            }
            let padding = tracker.extranonceSize - allocator.localLength
            channel.allocatedPrefix = allocated
            channel.upstreamExtranonce = allocated.bytes + [UInt8](repeating: 0, count: padding)
            channel.prefix = channel.prefix(under: tracker.extranoncePrefix)
            channel.validator = ShareValidator(
                duplicateFilter: DuplicateShareFilter(maximumCapacity: configuration.duplicateFilterCapacity))
            channels[id] = channel
            sendDownstream(ChannelEndpointChanged(channelID: id), to: channel.connection)
        }
        self.allocator = allocator
        statistics.openChannels = channels.count
        logger.info("\(channels.count) downstream channels moved onto upstream channel \(tracker.channelID)")
    }

    private func openChannel(_ open: PendingOpen) {
        guard var allocator, let tracker = upstreamChannel else { return }
        let allocated: Extranonce
        do { allocated = try allocator.allocate() } catch {
            sendDownstream(OpenMiningChannelError(requestID: open.requestID, errorCode: "extranonce-space-exhausted"),
                           to: open.connection)
            return
        }
        self.allocator = allocator
        let padding = tracker.extranonceSize - allocator.localLength
        let upstreamExtranonce = allocated.bytes + [UInt8](repeating: 0, count: padding)
        let prefix = Extranonce(bytes: tracker.extranoncePrefix.bytes + upstreamExtranonce)!
        var target = configuration.downstreamTarget
            ?? Target(hashrate: Double(open.nominalHashrate), sharesPerMinute: configuration.downstreamSharesPerMinute)
            ?? .max
        target = Swift.min(target, open.maxTarget)
        let id = nextChannelID
        nextChannelID &+= 1
        var channel = ProxyChannel(
            id: id, connection: open.connection, user: open.user, allocatedPrefix: allocated, prefix: prefix,
            upstreamExtranonce: upstreamExtranonce, target: target)
        channel.validator = ShareValidator(
            duplicateFilter: DuplicateShareFilter(maximumCapacity: configuration.duplicateFilterCapacity))
        sendDownstream(OpenStandardMiningChannelSuccess(
            requestID: open.requestID, channelID: id, target: WireConversions.u256(target), extranoncePrefix: prefix.bytes,
            groupChannelID: 0), to: open.connection)
        // Give the new miner the running job at once (as a future job + its chain tip), then any queued ones, each
        // under the upstream prefix it was sent with.
        if let job = tracker.activeJob, let tip = tracker.chainTip {
            let upstreamPrefix = tracker.activeExtranoncePrefix
            sendDownstream(NewMiningJob(
                channelID: id, jobID: job.jobID, minNtime: nil, version: job.version,
                merkleRoot: WireConversions.u256(channel.merkleRoot(of: job, under: upstreamPrefix))), to: open.connection)
            sendDownstream(SetNewPrevHash(
                channelID: id, jobID: job.jobID, prevHash: WireConversions.u256(tip.prevHash), minNtime: tip.minNtime,
                nbits: tip.nbits), to: open.connection)
            channel.validator.activate(channel.shareJob(for: job, on: tip, under: upstreamPrefix), newChainTip: true)
            statistics.jobsSent += 1
        }
        for job in tracker.pendingFutureJobs {
            let upstreamPrefix = tracker.extranoncePrefix(ofJob: job.jobID) ?? tracker.extranoncePrefix
            sendDownstream(NewMiningJob(
                channelID: id, jobID: job.jobID, minNtime: nil, version: job.version,
                merkleRoot: WireConversions.u256(channel.merkleRoot(of: job, under: upstreamPrefix))), to: open.connection)
            statistics.jobsSent += 1
        }
        channels[id] = channel
        statistics.channelsOpened += 1
        statistics.openChannels = channels.count
        logger.info("channel \(id) for \(open.user): prefix \(prefix), target \(target)")
        onEvent?(.channelOpened(channelID: id, user: open.user, extranoncePrefix: prefix))
    }

    /// The channel's duplicate filter filled and its jobs were retired (see ``ShareValidator``): the running upstream
    /// job is handed out again (same job id, which the pool knows) with `min_ntime` at the validator's floor, so the
    /// miner keeps working and no share accepted before can be accepted again.
    private func renewJob(_ id: UInt32) {
        guard var channel = channels[id], let tracker = upstreamChannel, let job = tracker.activeJob,
              let tip = tracker.chainTip
        else { return }
        let floor = Swift.max(channel.validator.ntimeFloor, tip.minNtime)
        let upstreamPrefix = tracker.activeExtranoncePrefix
        channel.validator.activate(channel.shareJob(for: job, on: tip, under: upstreamPrefix), newChainTip: false)
        channels[id] = channel
        sendDownstream(NewMiningJob(
            channelID: id, jobID: job.jobID, minNtime: floor, version: job.version,
            merkleRoot: WireConversions.u256(channel.merkleRoot(of: job, under: upstreamPrefix))), to: channel.connection)
        statistics.jobsSent += 1
        statistics.duplicateFilterRollovers += 1
        logger.info("channel \(id): duplicate filter full, job \(job.jobID) renewed above ntime \(floor)")
    }

    func submit(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        statistics.sharesReceived += 1
        guard var channel = channels[message.channelID], channel.connection == context.connectionID else {
            return rejectLocally(message.channelID, message.sequenceNumber, .invalidChannelID, context: context)
        }
        let share = Share(jobID: message.jobID, nonce: message.nonce, ntime: message.ntime, version: message.version)
        let outcome = channel.validator.validate(share)
        channels[message.channelID] = channel
        if channel.validator.needsFreshJob { renewJob(message.channelID) }
        let hash: Hash256
        switch outcome {
        case .rejected(let rejection):
            return rejectLocally(message.channelID, message.sequenceNumber, rejection, context: context)
        case .accepted(let accepted): hash = accepted
        case .blockFound(let block, _): hash = block
        }
        let isBlock = outcome != .accepted(hash: hash)
        // Upstream trouble is not the miner's fault: answer the share, never close the miner's connection for it.
        // A pool that stopped answering holds back this channel's acknowledgements: past the bound, refuse rather
        // than queue without end (a block still goes up: it is worth more than the bound).
        guard let tracker = upstreamChannel, let upstream,
              isBlock || channel.acks.count < configuration.maxUnacknowledgedSharesPerChannel else {
            if upstreamChannel != nil { statistics.sharesDroppedCongested += 1 }
            if isBlock {
                statistics.blocksNotForwarded += 1
                logger.error("BLOCK NOT FORWARDED (no upstream channel): hash \(hash), downstream channel \(message.channelID)")
            }
            return rejectLocally(message.channelID, message.sequenceNumber, Self.upstreamUnavailable, context: context)
        }
        guard isBlock || tracker.workTarget.isMet(by: hash) else {
            statistics.sharesAcceptedLocally += 1
            // Acknowledged in order: after any earlier share of the channel still waiting for the pool.
            channels[message.channelID]?.acks.append(message.sequenceNumber, .accepted)
            flushAcks(channel: message.channelID)
            return
        }
        // A share flood can outrun the upstream link; shed it here rather than overflow the write buffer (which
        // would close the upstream connection and with it every miner).
        //
        // A block is never shed: it is written behind the backlog at once (the upstream stream is ordered and
        // encrypted, so it cannot jump the queue), into the headroom between `maxPendingUpstreamBytes` and the
        // reactor's write-buffer cap that ordinary shares never use. If the link cannot take even that, it has
        // failed (the reactor closes it at the cap) and the block is reported below. It is not kept for the next
        // upstream connection: its header commits to this channel's extranonce prefix and job, which a new
        // upstream channel does not share, so it could never be valid there.
        if upstream.pendingWriteBytes > Self.maxPendingUpstreamBytes {
            guard isBlock else {
                statistics.sharesDroppedCongested += 1
                return rejectLocally(message.channelID, message.sequenceNumber, Self.upstreamUnavailable, context: context)
            }
            statistics.blocksForwardedCongested += 1
            logger.notice("upstream congested (\(upstream.pendingWriteBytes) bytes unsent): forwarding a block anyway")
        }
        let upstreamSequence = builder.nextSequenceNumber
        do {
            try upstream.send(SubmitSharesExtended(
                channelID: tracker.channelID, sequenceNumber: upstreamSequence, jobID: message.jobID,
                nonce: message.nonce, ntime: message.ntime, version: message.version,
                extranonce: channel.upstreamExtranonce))
        } catch {
            if isBlock {
                // The one record of a lost block: everything needed to rebuild its header from the upstream job.
                statistics.blocksNotForwarded += 1
                logger.error("""
                    BLOCK NOT FORWARDED (\(error)): hash \(hash), downstream channel \(message.channelID), \
                    upstream channel \(tracker.channelID), job \(message.jobID), nonce \(message.nonce), \
                    ntime \(message.ntime), version \(message.version), extranonce \(Sv2Hex.encode(channel.upstreamExtranonce))
                    """)
            } else {
                logger.debug("share not forwarded: \(error)")
            }
            return rejectLocally(message.channelID, message.sequenceNumber, Self.upstreamUnavailable, context: context)
        }
        _ = builder.extended(channelID: tracker.channelID, share: share)  // advances the sequence number
        channels[message.channelID]?.acks.append(message.sequenceNumber, .pending)
        inFlight.append(InFlightShare(
            upstreamSequence: upstreamSequence, channelID: message.channelID,
            downstreamSequence: message.sequenceNumber))
        statistics.sharesForwarded += 1
        onEvent?(.shareForwarded(channelID: message.channelID, jobID: message.jobID, hash: hash))
        if isBlock {
            statistics.blocksFound += 1
            logger.notice("block found by channel \(message.channelID): \(hash)")
            onEvent?(.blockFound(hash: hash))
        }
    }

    /// The error code for a valid share the proxy could not forward (upstream down or congested).
    static let upstreamUnavailable = "upstream-unavailable"
    /// Upstream bytes waiting to be sent above which shares are not forwarded (a quarter of the default 4 MiB
    /// write buffer cap).
    static let maxPendingUpstreamBytes = 1 << 20

    private func rejectLocally(
        _ channelID: UInt32, _ sequence: UInt32, _ rejection: ShareRejection, context: Sv2ServerContext
    ) {
        rejectLocally(channelID, sequence, rejection.code, context: context)
    }

    private func rejectLocally(_ channelID: UInt32, _ sequence: UInt32, _ code: String, context: Sv2ServerContext) {
        statistics.sharesRejectedLocally += 1
        statistics.rejections[code, default: 0] += 1
        sendDownstream(SubmitSharesError(channelID: channelID, sequenceNumber: sequence, errorCode: code),
                       to: context.connectionID)
    }

    func closeChannel(_ channelID: UInt32, connection: Sv2ConnectionID) {
        guard let channel = channels[channelID], channel.connection == connection else { return }
        channels[channelID] = nil
        try? allocator?.release(channel.allocatedPrefix)
        statistics.openChannels = channels.count
        onEvent?(.channelClosed(channelID: channelID))
    }

    func downstreamDidClose(_ connection: Sv2ConnectionID) {
        pendingOpens.removeAll { $0.connection == connection }
        for (id, channel) in channels where channel.connection == connection { closeChannel(id, connection: connection) }
    }

    private func sendDownstream<M: Sv2Message>(_ message: M, to connection: Sv2ConnectionID) {
        do { try server?.connections.send(message, to: connection) } catch {
            logger.debug("not sent to \(connection): \(error)")
        }
    }
}
