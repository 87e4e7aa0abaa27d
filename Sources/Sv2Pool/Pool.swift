public import Logging
public import Sv2Codec
public import Sv2Service
import Reactor
import Glibc
public import Sv2Bitcoin
public import Sv2Mining

/// The state of a mining pool's server side: channels, jobs from templates, share validation, vardiff and
/// acknowledgement batching. Loop thread only.
///
/// A class so that sibling services reach the same state: ``PoolMiningHandler`` (the Mining server's handler)
/// forwards every message here, ``TemplateDistributionClient`` feeds templates and chain tips in, and
/// ``onSolution`` hands found blocks back to the template source. ``PoolService`` wires all of it on one loop.
///
/// Jobs: every template becomes one coinbase (pool payout output first, then the template's outputs; scriptSig =
/// BIP34 prefix ‖ `Sv2/<tag>/` ‖ extranonce push) shared by all channels. Extended channels get
/// `NewExtendedMiningJob` with the BIP141-stripped prefix/suffix; standard channels get `NewMiningJob` with the
/// merkle root of their own extranonce prefix. Future templates become future jobs that `SetNewPrevHash`
/// activates (all other jobs go stale); other templates become jobs active at once. Version rolling is always
/// allowed with the `0x1fffffe0` mask.
///
/// Group channels (``PoolConfiguration/groupStandardChannels``, off by default): the standard channels of a
/// connection that did not set REQUIRES_STANDARD_JOBS form one group (its id from the channel id space), named in
/// their Open…Success and announced with `SetGroupChannel` as channels join; every later job is sent once to the
/// group id (`NewExtendedMiningJob`, then `SetNewPrevHash`), each member mining it with its own extranonce prefix;
/// `CloseChannel` on the group id closes all members. Extended channels are never grouped (group id 0, no
/// `SetGroupChannel`): a peer gains nothing from it and SRI's translator_sv2 1.0.0 terminates on it.
///
/// The share path (`submit(_:reply:)`) does not allocate: the channel is an array slot, the share is validated by
/// its `ShareValidator`, and `SubmitShares.Success` is batched — sent when ``PoolConfiguration/ackBatchSize`` shares
/// are pending, or by the pool's tick (every ``PoolConfiguration/ackInterval``).
public final class Pool {
    /// The configuration in use.
    public let configuration: PoolConfiguration
    /// The pool's logger.
    public let logger: Logger
    /// Counters.
    // The per-share state (`statistics`, `slots`, `pendingAcks`, `windowChannels`) is exempt
    // from dynamic exclusivity checks, which cost a thread-local lookup and an access-set insert per access (~5 % of
    // a share in profiles): the pool is used on one loop thread only, and no access to them spans a call that could
    // reach them again (handlers, the ledger and the solution hook are called between accesses, never during one).
    @exclusivity(unchecked) public private(set) var statistics = PoolStatistics()
    /// Called with `SubmitSolution` (full coinbase with witness) to hand a found block to the template source; it
    /// throws when the source cannot take it now (not connected, send failed), and the block stays pending.
    ///
    /// Found blocks are journaled (``blockJournal``) before they are submitted and kept until the chain tip settles
    /// them; one submission per previous block is in flight at a time (see `FoundBlockBook`). A block found while
    /// no template source is connected is submitted when one is back and still builds on the same previous block.
    public var onSolution: ((SubmitSolution) throws(Sv2ServiceError) -> Void)?
    /// Called for every block found (after it was journaled, before it is submitted), e.g. to print it.
    public var onBlockFound: ((FoundBlock) -> Void)?
    /// Checks the mining job token (and payout) of a `SetCustomMiningJob` with the pool's Job Declaration server:
    /// `nil` authorizes the job, otherwise the `SetCustomMiningJob.Error` code. `nil` here (the default): custom
    /// jobs are refused with `jd-not-supported`. Loop thread; a sibling JD server is called directly.
    public var customJobAuthorizer: ((CustomMiningJobRequest) -> String?)?
    /// Called with every accepted share (blocks included) when set: a Job Declaration client forwards the ones that
    /// meet its upstream target. Unset on a plain pool, so the share path stays as it is.
    public var onShareAccepted: ((AcceptedShare) -> Void)?
    /// Called when a template becomes the work every channel mines (a chain tip, a non-future template on the
    /// current tip, rebuilt coinbase outputs): a Job Declaration client declares it upstream.
    public var onWork: ((BlockTemplate, Coinbase, TemplateChainTip) -> Void)?
    /// Called with the answer to a `RequestTransactionData` sent with ``requestTransactionData(templateID:)`` (a Job
    /// Declaration client declaring full templates, a JD server's mempool view), or any answer on the template link
    /// nobody recorded asking for: the template id, its transactions and `excess_data`, or `nil` when refused. The
    /// answers to the pool's own requests for its found blocks never come here.
    public var onTransactionData: ((UInt64, [[UInt8]]?, [UInt8]) -> Void)?
    /// Sends `RequestTransactionData` on the pool's template link (``PoolService`` sets it to its Template
    /// Distribution client; it throws when the link cannot take it). With a ``blockJournal``, a block found on one
    /// of the pool's templates is followed by a request for the template's transactions, sent just before its
    /// `SubmitSolution` in the same flush (a template provider forgets the template once the block moved the tip),
    /// and the answer journals the whole block (see ``blockDataTimeout``). Others ask through
    /// ``requestTransactionData(templateID:)`` so that every answer reaches whoever asked.
    public var onTransactionDataRequest: ((RequestTransactionData) throws(Sv2ServiceError) -> Void)?
    /// How long a found block waits for its template's transactions before the wait is given up (logged; the block
    /// stays journaled with its header and coinbase; `sv2 blocks submit --rpc` or the `--rpc` start-up settles it if
    /// the node has it on its best chain, else it is settled by hand).
    public var blockDataTimeout: Duration = .seconds(30)
    /// A pool without a template link of its own (a ``PoolCluster`` loop after the first) hands its found blocks
    /// here, to the pool of the loop that owns the link, which asks for their transactions (set by the cluster).
    var blockDataDelegate: ((FoundBlock, UInt32?) -> Void)?
    /// Outstanding `RequestTransactionData` requests and the found blocks waiting for their answer.
    var blockData = BlockDataRequests()
    /// The outputs every coinbase starts with; the first gets the template's revenue (default: one output to
    /// ``PoolConfiguration/payoutScript``). See ``setCoinbaseOutputs(_:)``.
    public private(set) var coinbaseOutputs: [TxOutput]
    /// Bytes every channel's extranonce prefix starts with (a Job Declaration client's upstream channel prefix;
    /// empty on a pool). See ``setUpstreamExtranonce(prefix:size:)``.
    public private(set) var upstreamExtranoncePrefix = Extranonce.empty
    /// Where found blocks are recorded before anything else happens to them (`nil`: not journaled). A journal that
    /// fails to write is logged and counted; the block is still submitted.
    public var blockJournal: (any BlockJournaling)?
    /// Monotonic seconds for vardiff (the loop's clock once attached; injectable for tests).
    public var clock: () -> Double
    /// Unix time in seconds, for the block journal (injectable for tests).
    public var wallClock: () -> UInt64 = { UInt64(Glibc.time(nil)) }
    /// The chain tip jobs are built on (`nil` until the template source sent one).
    public private(set) var chainTip: TemplateChainTip?
    /// Share accounting (`nil`: none, acknowledgements are batched as before). With a ledger, every tick closes an
    /// accounting window (see ``ShareWindow``) and hands it to the ledger; the window's shares are acknowledged
    /// only once the ledger reports it committed ("acknowledged means durable"). When the ledger's queue is full the
    /// pool applies back-pressure: it stops reading from every miner connection (their shares wait in the kernel and
    /// TCP slows the miners down; nothing is refused, dropped or acknowledged unrecorded), keeps the window open, and
    /// refuses new channels (`OpenMiningChannel.Error` ``accountingBacklogCode``) until a commit makes room; then
    /// reading resumes. Set it before the pool is attached to its server, or from the loop thread.
    public var ledger: (any PoolLedger)? {
        didSet {
            // Shares accepted before the ledger was set are acknowledged as before; everything after waits for
            // its window's commit.
            if oldValue == nil, ledger != nil { flushPendingAcks() }
            wireLedger()
        }
    }
    /// The `OpenMiningChannel.Error` code for channels refused while the ledger is behind (also the last rejection
    /// reason of the accounting schema, kept for rows written by earlier versions).
    public static let accountingBacklogCode = "accounting-backlog"
    /// True while the ledger's queue is full: reading from miners is paused and new channels are refused.
    public private(set) var accountingBacklog = false
    /// Connections whose reading this pool paused for the backlog (resumed when it ends).
    private var pausedForBacklog: [Sv2ConnectionID] = []

    private var connections: Sv2ServerConnections?
    private var tickTimer: TimerHandle?
    private var lastSweep = 0.0

    /// Templates jobs were built from, by id (internal for the tests of the "template gone" failure path).
    var templates: [UInt64: PoolTemplate] = [:]
    private var currentTemplateID: UInt64?
    private var nextJobID: UInt32 = 1

    @exclusivity(unchecked) private var slots: [PoolChannel?] = []
    private var channelCount = 0
    /// Channel ids are `channelIDBase + 1 ... channelIDLast` (the whole space on a single-loop pool; one partition
    /// per loop otherwise, see ``PoolConfiguration/partitionIndex``); a channel's slot is `id - channelIDBase - 1`.
    private let channelIDBase: UInt32
    private let channelIDLast: UInt32
    private var nextFreshChannelID: UInt32
    private var freedChannelIDs: [UInt32] = []
    private var freedHead = 0
    private var pools: [Sv2ConnectionID: ConnectionChannels] = [:]
    private var allocator: ExtranonceAllocator
    /// Extranonce bytes an extended channel rolls (``PoolConfiguration/extranonceRollableLength`` unless an upstream
    /// extranonce layout was set: ``setUpstreamExtranonce(prefix:size:)``).
    private var rollableLength: Int
    @exclusivity(unchecked) private var pendingAcks: [UInt32] = []
    private var blocks = FoundBlockBook()
    private var users: UserShareBook
    // Accounting (only with a ledger).
    @exclusivity(unchecked) private var windowChannels: [UInt32] = []
    private var closedRows: [ShareWindowRow] = []
    private var orphanRejections = [UInt64](repeating: 0, count: ShareWindowRow.reasons.count)
    private var windowBlocks: [ShareWindowBlock] = []
    private var awaitingCommit: [(sequence: UInt64, closedAt: Double, channels: [UInt32])] = []
    private var awaitingHead = 0
    private var nextWindowSequence: UInt64 = 1
    private var lastWindowEnd: UInt64 = 0
    /// At most this many block events wait in one open window (blocks are journaled as well; see Docs/Operating.md).
    static let maximumWindowBlocks = 4096
    /// Rows of closed channels kept apart in one open window. Rows with credit are always kept (they cannot pile up:
    /// nothing is accepted while the ledger is behind); beyond this, rows holding only rejections are folded into
    /// the window's channel-less row, so a peer that opens, submits and closes channels during a backlog cannot grow
    /// the window without bound.
    var maximumClosedRows = 4096
    /// False from ``templateSourceLost()`` until the next chain tip: no new work is handed out meanwhile.
    public private(set) var templateSourceAvailable = true
    /// When the latest template arrived (``clock`` seconds; `nil` before the first), for its age in metrics.
    public private(set) var lastTemplateTime: Double?

    /// The channels and group channel of one connection.
    private struct ConnectionChannels {
        /// `nil` while the connection has no group: it set REQUIRES_STANDARD_JOBS, or its group was closed.
        var groupID: UInt32?
        var channels: [UInt32] = []
    }

    /// Creates a pool; throws if the configuration is unusable.
    public init(configuration: PoolConfiguration, logger: Logger = Logger(label: "stratum.pool")) throws(PoolError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        users = UserShareBook(capacity: configuration.maximumTrackedUsers)
        let span = UInt64(1) << 32 / UInt64(configuration.partitionCount)
        channelIDBase = UInt32(truncatingIfNeeded: span * UInt64(configuration.partitionIndex))
        channelIDLast = configuration.partitionIndex == configuration.partitionCount - 1
            ? .max : UInt32(truncatingIfNeeded: span * UInt64(configuration.partitionIndex + 1) - 1)
        nextFreshChannelID = channelIDBase + 1
        do {
            allocator = try ExtranonceAllocator(
                localLength: configuration.extranoncePrefixLength, totalLength: configuration.extranonceLength,
                reservedIDs: configuration.reservedExtranonceIDs, partition: configuration.partitionIndex,
                of: configuration.partitionCount)
        } catch {
            throw .invalidConfiguration("extranonce layout: \(error)")
        }
        coinbaseOutputs = [TxOutput(value: 0, script: configuration.payoutScript)]
        rollableLength = configuration.extranonceRollableLength
        let origin = ContinuousClock.now
        clock = { Pool.seconds(ContinuousClock.now - origin) }
        pendingAcks.reserveCapacity(64)
    }

    deinit {
        // Whoever holds the pool last releases it, on any thread; the timer wheel is loop-thread state.
        guard let tickTimer, let loop = connections?.eventLoop else { return }
        if loop.inLoop { loop.cancel(tickTimer) } else { loop.execute { [weak loop] in loop?.cancel(tickTimer) } }
    }

    // MARK: Wiring

    /// Sends broadcasts (jobs, targets, batched acks) through `connections` and starts the pool's tick on its
    /// loop. Idempotent; ``PoolMiningHandler`` calls it when the first connection sets up.
    public func attach(to connections: Sv2ServerConnections) {
        guard self.connections !== connections else { return }
        detach()
        self.connections = connections
        let loop = connections.eventLoop
        clock = { [unowned loop] in Double(loop.now) / 1e9 }
        lastSweep = clock()
        scheduleTick()
        wireLedger()
    }

    /// Lets the ledger's writer report commits to this pool on its loop (the writer runs on its own thread).
    private func wireLedger() {
        guard let ledger, let loop = connections?.eventLoop else { return }
        let target = PoolReference(self)
        ledger.setCommitHandler { sequence in
            loop.execute { target.pool?.windowsCommitted(through: sequence) }
        }
    }

    /// Stops the tick and forgets the server connections.
    public func detach() {
        if let tickTimer, let connections { connections.eventLoop.cancel(tickTimer) }
        tickTimer = nil
        connections = nil
    }

    private func scheduleTick() {
        guard let connections else { return }
        tickTimer = connections.eventLoop.schedule(after: configuration.ackInterval) { [weak self] in
            guard let self else { return }
            self.tick(now: self.clock())
            self.scheduleTick()
        }
    }

    /// Periodic work: flushes partial acknowledgement batches and runs vardiff. Called by the pool's timer once
    /// attached; call it yourself when driving the pool without a loop.
    public func tick(now: Double) {
        if ledger != nil { closeWindow(now: now) } else { flushPendingAcks() }
        submitBlocks(now: now)
        for waiting in blockData.expired(now: now) {
            blockDataFailed(waiting.block, "the template provider did not answer RequestTransactionData within \(blockDataTimeout)")
        }
        let sweepInterval = Swift.min(1, configuration.vardiffWindow / 4)
        guard now - lastSweep >= sweepInterval else { return }
        lastSweep = now
        for index in slots.indices where slots[index] != nil {
            if let target = slots[index]!.vardiff.update(now: now) { retarget(index, to: target) }
        }
    }

    // MARK: Inspection

    /// Number of open standard and extended channels.
    public var openChannelCount: Int { channelCount }

    /// The template the current jobs come from.
    public var currentTemplate: BlockTemplate? { currentTemplateID.flatMap { templates[$0]?.template } }

    /// The current target of a channel.
    public func target(ofChannel channelID: UInt32) -> Target? { channel(channelID)?.target }

    /// The extranonce prefix of a channel (standard channels: the whole extranonce their merkle root uses).
    public func extranoncePrefix(ofChannel channelID: UInt32) -> Extranonce? { channel(channelID)?.extranoncePrefix }

    /// Lifetime share totals per user identity (open and closed channels), for the first
    /// `PoolConfiguration.maximumTrackedUsers` users seen, and the sum over every later one (`untracked`). Walks the
    /// open channels: call it at scrape time, not per share. Loop thread.
    public func userTotals() -> (users: [String: UserShareTotals], untracked: UserShareTotals) {
        var users = self.users.closed
        var untracked = self.users.untrackedClosed
        for case let channel? in slots {
            let totals = UserShareTotals(
                accepted: channel.accepted, rejected: channel.rejected, difficulty: channel.acceptedDifficulty)
            if channel.userTracked { users[channel.userIdentity, default: UserShareTotals()].add(totals) } else {
                untracked.add(totals)
            }
        }
        return (users, untracked)
    }

    /// The server connection a channel belongs to (e.g. to pause or close it).
    public func connection(ofChannel channelID: UInt32) -> Sv2ConnectionID? { channel(channelID)?.connection }

    /// Accepted and rejected share counts of a channel.
    public func shareCounts(ofChannel channelID: UInt32) -> (accepted: UInt64, rejected: UInt64)? {
        channel(channelID).map { ($0.accepted, $0.rejected) }
    }

    private func channel(_ id: UInt32) -> PoolChannel? {
        let index = slotIndex(id)
        guard index >= 0, index < slots.count else { return nil }
        return slots[index]
    }

    // MARK: Channels

    /// Handles `OpenStandardMiningChannel` from `connection`: answers Success (and the first job when a chain
    /// tip is known) or `OpenMiningChannel.Error`.
    public func openStandardChannel<Reply: PoolReplySink>(
        _ request: OpenStandardMiningChannelView, connection: Sv2ConnectionID, setupFlags: UInt32, reply: Reply
    ) throws(Sv2ServiceError) {
        if setupFlags & Sv2SetupFlags.Mining.requiresWorkSelection != 0 {
            return try refuse(request.requestID, "standard-channels-not-supported-for-custom-work", reply)
        }
        // SetGroupChannel is only for connections that accept extended jobs (spec: not with REQUIRES_STANDARD_JOBS):
        // group jobs are NewExtendedMiningJob.
        try open(
            kind: .standard, requestID: request.requestID, userIdentity: request.userIdentity,
            nominalHashrate: request.nominalHashRate, maxTarget: request.maxTarget, minExtranonceSize: 0,
            grouped: configuration.groupStandardChannels
                && setupFlags & Sv2SetupFlags.Mining.requiresStandardJobs == 0,
            connection: connection, reply: reply)
    }

    /// Handles `OpenExtendedMiningChannel` from `connection` (see ``openStandardChannel(_:connection:setupFlags:reply:)``).
    public func openExtendedChannel<Reply: PoolReplySink>(
        _ request: OpenExtendedMiningChannelView, connection: Sv2ConnectionID, setupFlags: UInt32, reply: Reply
    ) throws(Sv2ServiceError) {
        if setupFlags & Sv2SetupFlags.Mining.requiresStandardJobs != 0 {
            return try refuse(request.requestID, "extended-channels-not-supported-for-standard-jobs", reply)
        }
        try open(
            kind: .extended, requestID: request.requestID, userIdentity: request.userIdentity,
            nominalHashrate: request.nominalHashRate, maxTarget: request.maxTarget,
            minExtranonceSize: Int(request.minExtranonceSize), grouped: false,
            selectsWork: setupFlags & Sv2SetupFlags.Mining.requiresWorkSelection != 0, connection: connection,
            reply: reply)
    }

    private func refuse<Reply: PoolReplySink>(_ requestID: UInt32, _ code: String, _ reply: Reply) throws(Sv2ServiceError) {
        statistics.channelsRefused += 1
        logger.info("channel refused: \(code)")
        try reply.send(OpenMiningChannelError(requestID: requestID, errorCode: code))
    }

    private func open<Reply: PoolReplySink>(
        kind: PoolChannel.Kind, requestID: UInt32, userIdentity: Sv2Bytes, nominalHashrate: Float,
        maxTarget wireMaxTarget: U256, minExtranonceSize: Int, grouped: Bool, selectsWork: Bool = false,
        connection: Sv2ConnectionID, reply: Reply
    ) throws(Sv2ServiceError) {
        // While the ledger is behind no channel is added: the held window's rows stay bounded by the channels open
        // when the backlog began.
        if accountingBacklog { return try refuse(requestID, Self.accountingBacklogCode, reply) }
        // Every channel costs a validator and a duplicate filter: one connection may not open them without bound.
        if let owned = pools[connection], owned.channels.count >= configuration.maximumChannelsPerConnection {
            return try refuse(requestID, "max-channels-per-connection-reached", reply)
        }
        let hashrate = Double(nominalHashrate)
        guard hashrate.isFinite, hashrate >= 0 else { return try refuse(requestID, "invalid-nominal-hashrate", reply) }
        let maxTarget = WireConversions.target(wireMaxTarget)
        guard maxTarget >= configuration.hardestTarget else {
            return try refuse(requestID, "max-target-out-of-range", reply)
        }
        guard minExtranonceSize <= rollableLength else {
            return try refuse(requestID, "min-extranonce-size-too-large", reply)
        }
        guard let user = String(validating: userIdentity, as: UTF8.self) else {
            return try refuse(requestID, "invalid-user-identity", reply)
        }
        let allocated: Extranonce
        do { allocated = try allocator.allocate() } catch {
            logger.error("extranonce prefixes exhausted: \(error)")
            return try refuse(requestID, "extranonce-prefixes-exhausted", reply)
        }
        let prefix: Extranonce
        switch kind {
        case .extended: prefix = allocated
        case .standard:
            // A standard channel rolls nothing: its whole extranonce is fixed here and baked into the merkle root.
            prefix = allocated.appending(
                Extranonce(bytes: [UInt8](repeating: 0, count: rollableLength))!)!
        }
        let id = allocateChannelID()
        var owned = pools.removeValue(forKey: connection) ?? ConnectionChannels()
        if grouped, owned.groupID == nil { owned.groupID = allocateChannelID() }
        owned.channels.append(id)
        pools[connection] = owned
        // 0 is never a channel id: "no group" on the wire.
        let groupID = grouped ? owned.groupID! : 0
        let vardiff = Vardiff(
            configuration: vardiffConfiguration(maxTarget: maxTarget), nominalHashrate: hashrate, now: clock())
        let validator = ShareValidator(
            maximumActiveJobs: configuration.maximumActiveJobs,
            duplicateFilter: DuplicateShareFilter(maximumCapacity: configuration.duplicateFilterCapacity))
        var channel = PoolChannel(
            id: id, connection: connection, kind: kind, userIdentity: user, allocatedPrefix: allocated,
            extranoncePrefix: prefix, rollableLength: kind == .extended ? rollableLength : 0,
            vardiff: vardiff, validator: validator, jobMemory: Self.jobMemory(configuration))
        channel.groupID = groupID
        channel.selectsWork = selectsWork
        channel.userTracked = users.track(user)
        let index = slotIndex(id)
        while slots.count <= index { slots.append(nil) }
        slots[index] = channel
        channelCount += 1
        statistics.channelsOpened += 1
        if pendingAcks.capacity < channelCount { pendingAcks.reserveCapacity(channelCount * 2) }
        let target = WireConversions.u256(channel.target)
        switch kind {
        case .standard:
            try reply.send(OpenStandardMiningChannelSuccess(
                requestID: requestID, channelID: id, target: target, extranoncePrefix: prefix.bytes,
                groupChannelID: groupID))
        case .extended:
            try reply.send(OpenExtendedMiningChannelSuccess(
                requestID: requestID, channelID: id, target: target,
                extranonceSize: UInt16(rollableLength), extranoncePrefix: prefix.bytes,
                groupChannelID: groupID))
        }
        // Membership changes only here (closing a member or the group is the client's own request): announce the
        // new member. SetGroupChannel associates the listed channels, so one id at a time keeps it O(1).
        if grouped { try reply.send(SetGroupChannel(groupChannelID: groupID, channelIDs: [id])) }
        logger.debug("channel \(id) opened (\(kind), user \(user), target difficulty \(channel.difficulty))")
        // The first job on a channel is a future job activated right away by SetNewPrevHash (addressed to the
        // channel itself even in a group: later jobs go to the group).
        // A channel that selects its work (Job Declaration) mines only its custom jobs: none of the pool's.
        if !selectsWork, templateSourceAvailable, let tip = chainTip, let templateID = currentTemplateID,
           let template = templates[templateID] {
            let jobID = try sendJob(template, channelIndex: index, future: true, reply: reply)
            try activate(template, jobID: jobID, channelIndex: index, tip: tip, reply: reply)
        }
    }

    private func vardiffConfiguration(maxTarget: Target) -> Vardiff.Configuration {
        Vardiff.Configuration(
            sharesPerMinute: configuration.sharesPerMinute, window: configuration.vardiffWindow,
            maxStep: configuration.vardiffMaxStep, minimumTarget: configuration.hardestTarget,
            maximumTarget: Swift.max(Swift.min(configuration.easiestTarget, maxTarget), configuration.hardestTarget))
    }

    /// The slot of channel `id` (out of range for an id of another partition: the callers' bounds checks refuse it).
    @inline(__always)
    private func slotIndex(_ id: UInt32) -> Int { Int(id &- channelIDBase) &- 1 }

    private func allocateChannelID() -> UInt32 {
        // Freed ids wait in FIFO order behind a margin, so late messages for a closed channel rarely meet a new one.
        if freedChannelIDs.count - freedHead > 64 || nextFreshChannelID == channelIDLast {
            if freedHead < freedChannelIDs.count {
                let id = freedChannelIDs[freedHead]
                freedHead += 1
                if freedHead > 1024, freedHead * 2 > freedChannelIDs.count {
                    freedChannelIDs.removeFirst(freedHead)
                    freedHead = 0
                }
                return id
            }
        }
        let id = nextFreshChannelID
        nextFreshChannelID += 1
        return id
    }

    /// Handles `UpdateChannel`: a new nominal hashrate and maximum target; sends `SetTarget` when the target
    /// changes, `UpdateChannel.Error` for bad values.
    public func updateChannel<Reply: PoolReplySink>(_ request: UpdateChannelView, reply: Reply) throws(Sv2ServiceError) {
        let index = slotIndex(request.channelID)
        guard index >= 0, index < slots.count, slots[index] != nil else {
            return try reply.send(UpdateChannelError(channelID: request.channelID, errorCode: "invalid-channel-id"))
        }
        let hashrate = Double(request.nominalHashRate)
        guard hashrate.isFinite, hashrate >= 0 else {
            return try reply.send(UpdateChannelError(channelID: request.channelID, errorCode: "invalid-nominal-hashrate"))
        }
        let maxTarget = WireConversions.target(request.maximumTarget)
        guard maxTarget >= configuration.hardestTarget else {
            return try reply.send(UpdateChannelError(channelID: request.channelID, errorCode: "max-target-out-of-range"))
        }
        let old = slots[index]!.target
        slots[index]!.vardiff = Vardiff(
            configuration: vardiffConfiguration(maxTarget: maxTarget), nominalHashrate: hashrate, now: clock())
        let new = slots[index]!.target
        if new != old { retarget(index, to: new) }
    }

    /// Handles `CloseChannel` (a group channel id closes all its members; a later channel gets a new group).
    public func closeChannel(_ request: CloseChannelView, connection: Sv2ConnectionID) {
        if var owned = pools[connection], let groupID = owned.groupID, groupID == request.channelID {
            let members = groupMembers(owned)
            for id in members { free(id, connection: nil) }
            owned.channels.removeAll { members.contains($0) }
            owned.groupID = nil
            pools[connection] = owned
            freedChannelIDs.append(groupID)
            logger.debug("group \(groupID) closed (\(members.count) channels)")
            return
        }
        guard let channel = channel(request.channelID), channel.connection == connection else { return }
        free(request.channelID, connection: connection)
    }

    /// Frees every channel of a closed connection and its extranonce prefixes.
    public func connectionClosed(_ connection: Sv2ConnectionID) {
        guard let owned = pools.removeValue(forKey: connection) else { return }
        for id in owned.channels { free(id, connection: nil) }
        if let groupID = owned.groupID { freedChannelIDs.append(groupID) }
    }

    private func free(_ id: UInt32, connection: Sv2ConnectionID?) {
        let index = slotIndex(id)
        guard let channel = slots[index] else { return }
        // Shares of the open window outlive their channel: they still go into the window's rows.
        if channel.windowQueued {
            let row = channel.windowRow
            if row.accepted > 0 || closedRows.count < maximumClosedRows {
                closedRows.append(row)
            } else {
                for (i, count) in row.rejected.enumerated() { orphanRejections[i] &+= count }
                statistics.accountingRowsFolded &+= 1
            }
        }
        users.close(
            user: channel.userIdentity, tracked: channel.userTracked,
            UserShareTotals(accepted: channel.accepted, rejected: channel.rejected, difficulty: channel.acceptedDifficulty))
        slots[index] = nil
        channelCount -= 1
        statistics.channelsClosed += 1
        do { try allocator.release(channel.allocatedPrefix) } catch {
            logger.error("channel \(id): \(error)")
        }
        freedChannelIDs.append(id)
        if let connection { pools[connection]?.channels.removeAll { $0 == id } }
        logger.debug("channel \(id) closed (\(channel.accepted) accepted, \(channel.rejected) rejected)")
    }

    // MARK: Shares

    /// Handles `SubmitSharesStandard`: validates, batches the acknowledgement or answers `SubmitShares.Error`.
    /// Does not allocate.
    public func submit<Reply: PoolReplySink>(_ share: SubmitSharesStandardView, reply: Reply) throws(Sv2ServiceError) {
        try process(
            channelID: share.channelID, sequence: share.sequenceNumber,
            share: Share(jobID: share.jobID, nonce: share.nonce, ntime: share.ntime, version: share.version),
            reply: reply)
    }

    /// Handles `SubmitSharesExtended` (as the standard-share `submit(_:reply:)`). Does not allocate.
    public func submit<Reply: PoolReplySink>(_ share: SubmitSharesExtendedView, reply: Reply) throws(Sv2ServiceError) {
        // The view already limits the extranonce to 32 bytes.
        let extranonce = Extranonce(copying: share.extranonce) ?? .empty
        try process(
            channelID: share.channelID, sequence: share.sequenceNumber,
            share: Share(
                jobID: share.jobID, nonce: share.nonce, ntime: share.ntime, version: share.version,
                extranonce: extranonce),
            reply: reply)
    }

    func process<Reply: PoolReplySink>(
        channelID: UInt32, sequence: UInt32, share: Share, reply: Reply
    ) throws(Sv2ServiceError) {
        let index = slotIndex(channelID)
        guard index >= 0, index < slots.count, slots[index] != nil else {
            if ledger != nil { orphanRejections[ShareRejection.invalidChannelID.reasonIndex] &+= 1 }
            return try reject(channelID: channelID, sequence: sequence, .invalidChannelID, reply: reply)
        }
        if accountingBacklog {
            // Cannot happen through the server (every connection with a channel is paused when the backlog begins, and
            // a paused connection's buffered bytes wait for the resume); a share handed in directly is handled like
            // any other into the held window, and its connection stops being read after it.
            pauseForBacklog(slots[index]!.connection)
        }
        switch slots[index]!.validator.validate(share) {
        case .accepted(let hash):
            if let onShareAccepted { reportShare(index, share: share, hash: hash, to: onShareAccepted) }
            try accept(index, sequence: sequence, reply: reply)
        case .blockFound(let hash, let header):
            if let onShareAccepted { reportShare(index, share: share, hash: hash, to: onShareAccepted) }
            // The block is journaled and submitted before the share is acknowledged: a failing acknowledgement
            // (full write buffer, peer gone) must not take the block with it.
            if foundBlock(index, share: share, hash: hash, header: header) {
                try accept(index, sequence: sequence, reply: reply)
            } else {
                slots[index]!.rejected &+= 1
                countRejection(index, reason: ShareRejection.duplicateShare.reasonIndex)
                try reject(channelID: channelID, sequence: sequence, .duplicateShare, reply: reply)
            }
        case .rejected(let rejection):
            slots[index]!.rejected &+= 1
            countRejection(index, reason: rejection.reasonIndex)
            try reject(channelID: channelID, sequence: sequence, rejection, reply: reply)
        }
        if slots[index]!.validator.needsFreshJob { try sendFreshJob(index, reply: reply) }
    }

    private func reportShare(_ index: Int, share: Share, hash: Hash256, to hook: (AcceptedShare) -> Void) {
        let channel = slots[index]!
        guard let extranonce = channel.extranoncePrefix.appending(share.extranonce) else { return }
        hook(AcceptedShare(
            channelID: channel.id, templateID: channel.templateID(ofJob: share.jobID) ?? 0, extranonce: extranonce,
            nonce: share.nonce, ntime: share.ntime, version: share.version, hash: hash))
    }

    /// The channel's duplicate filter filled and its jobs were retired: a new job from the current template, with
    /// `min_ntime` at the validator's floor (so no header accepted before can be submitted again).
    private func sendFreshJob<Reply: PoolReplySink>(_ index: Int, reply: Reply) throws(Sv2ServiceError) {
        // A channel selecting its work waits for its JD client's next custom job (counted in its validator).
        guard !slots[index]!.selectsWork else { return }
        statistics.duplicateFilterRollovers &+= 1
        logger.info("channel \(slots[index]!.id): duplicate filter full, jobs renewed above ntime \(slots[index]!.validator.ntimeFloor)")
        guard !slots[index]!.selectsWork, templateSourceAvailable, chainTip != nil, let templateID = currentTemplateID,
              let template = templates[templateID]
        else { return }
        _ = try sendJob(template, channelIndex: index, future: false, reply: reply)
    }

    private func accept<Reply: PoolReplySink>(_ index: Int, sequence: UInt32, reply: Reply) throws(Sv2ServiceError) {
        // Credit at the target the share was validated against (its job's), never the channel's current one.
        let credit = slots[index]!.validator.lastCredit
        let flushNow = slots[index]!.recordAccepted(
            sequence: sequence, weight: credit.weight, batchSize: configuration.ackBatchSize)
        statistics.sharesAccepted &+= 1
        // A channel selecting its work mines nothing but its custom jobs (one predictable branch, no lookup).
        if slots[index]!.selectsWork { statistics.customJobSharesAccepted &+= 1 }
        statistics.acceptedWork += credit.difficulty
        slots[index]!.acceptedDifficulty += credit.difficulty
        if ledger != nil {
            // Acknowledged when the window holding it is committed (windowsCommitted), not before.
            if slots[index]!.addToWindow(credit) { windowChannels.append(slots[index]!.id) }
            return
        }
        if flushNow {
            try reply.send(slots[index]!.takeAck())
            statistics.acksSent &+= 1
        } else if !slots[index]!.ackQueued {
            slots[index]!.ackQueued = true
            pendingAcks.append(slots[index]!.id)
        }
    }

    private func reject<Reply: PoolReplySink>(
        channelID: UInt32, sequence: UInt32, _ rejection: ShareRejection, reply: Reply
    ) throws(Sv2ServiceError) {
        statistics.sharesRejected &+= 1
        statistics.rejections[rejection.reasonIndex] &+= 1
        switch rejection {
        case .staleShare: statistics.staleShares &+= 1
        case .duplicateShare: statistics.duplicateShares &+= 1
        default: break
        }
        try reply.send(SubmitSharesError(channelID: channelID, sequenceNumber: sequence, errorCode: rejection.code))
    }

    /// Sends every pending batched acknowledgement now (e.g. before shutting down, so no accepted share goes
    /// unacknowledged). With a ledger: closes the open window and waits (blocking the loop thread, at most
    /// `timeout`) until the ledger committed it, then acknowledges; shares of windows not committed by then stay
    /// unacknowledged.
    public func flushAcknowledgements(timeout: Duration = .seconds(5)) {
        guard let ledger else { return flushPendingAcks() }
        closeWindow(now: clock())
        guard awaitingHead < awaitingCommit.count else { return }
        let last = awaitingCommit[awaitingCommit.count - 1].sequence
        if ledger.waitUntilCommitted(last, timeout: timeout) {
            windowsCommitted(through: last)
        } else {
            logger.error("accounting: windows up to \(last) not committed within \(timeout): their shares stay unacknowledged")
        }
    }

    // MARK: Accounting

    /// Windows handed to the ledger whose shares wait for the commit to be acknowledged.
    public var uncommittedWindowCount: Int { awaitingCommit.count - awaitingHead }

    /// True while the open window holds something (shares, rejections or block events) not yet handed over.
    var hasOpenWindow: Bool {
        !windowChannels.isEmpty || !closedRows.isEmpty || !windowBlocks.isEmpty || orphanRejections.contains { $0 != 0 }
    }

    private func queueInWindow(_ index: Int) {
        guard !slots[index]!.windowQueued else { return }
        slots[index]!.windowQueued = true
        windowChannels.append(slots[index]!.id)
    }

    private func countRejection(_ index: Int, reason: Int) {
        guard ledger != nil else { return }
        slots[index]!.windowRejected[reason] &+= 1
        queueInWindow(index)
    }

    /// Hands the open window to the ledger and seals its acknowledgements; a full ledger leaves everything open
    /// (the counters keep accumulating) and turns on the backlog refusal until a later call succeeds.
    private func closeWindow(now: Double) {
        guard let ledger else { return }
        let orphans = orphanRejections.contains { $0 != 0 }
        guard !windowChannels.isEmpty || !closedRows.isEmpty || !windowBlocks.isEmpty || orphans else {
            if accountingBacklog { endBacklog() }
            return
        }
        var rows = closedRows
        rows.reserveCapacity(closedRows.count + windowChannels.count + 1)
        var included: [UInt32] = []
        included.reserveCapacity(windowChannels.count)
        for id in windowChannels {
            let index = slotIndex(id)
            guard index < slots.count, slots[index] != nil, slots[index]!.windowQueued else { continue }
            slots[index]!.windowQueued = false
            rows.append(slots[index]!.windowRow)
            included.append(id)
        }
        if orphans {
            rows.append(ShareWindowRow(
                userIdentity: "", channelID: 0, accepted: 0, difficulty: 0, credit: 0, rejected: orphanRejections))
        }
        let end = Swift.max(lastWindowEnd &+ 1, Self.unixMilliseconds())
        let sequence = nextWindowSequence
        guard ledger.record(ShareWindow(sequence: sequence, endMilliseconds: end, rows: rows, blocks: windowBlocks))
        else {
            for id in included { slots[slotIndex(id)]!.windowQueued = true }
            if !accountingBacklog { startBacklog() }
            return
        }
        if accountingBacklog { endBacklog() }
        nextWindowSequence &+= 1
        lastWindowEnd = end
        statistics.accountingWindows &+= 1
        var sealed: [UInt32] = []
        for id in included {
            let index = slotIndex(id)
            slots[index]!.resetWindow()
            if slots[index]!.sealPendingAck(window: sequence) { sealed.append(id) }
        }
        windowChannels.removeAll(keepingCapacity: true)
        closedRows.removeAll(keepingCapacity: true)
        windowBlocks.removeAll(keepingCapacity: true)
        if orphans { for i in orphanRejections.indices { orphanRejections[i] = 0 } }
        awaitingCommit.append((sequence, now, sealed))
    }

    /// The ledger's queue is full: every miner connection stops being read (back-pressure) until it catches up.
    private func startBacklog() {
        accountingBacklog = true
        statistics.accountingBacklogs &+= 1
        for connection in pools.keys { pauseForBacklog(connection) }
        logger.warning("accounting: the ledger's queue is full; reading from \(pausedForBacklog.count) miner connections paused until it catches up")
    }

    private func pauseForBacklog(_ connection: Sv2ConnectionID) {
        guard let connections, connections.isReadingPaused(connection) == false, connections.pauseReading(connection)
        else { return }
        pausedForBacklog.append(connection)
    }

    /// A window was handed over again: every connection paused for the backlog is read again (closed ones are
    /// skipped), and channels can be opened again.
    private func endBacklog() {
        accountingBacklog = false
        let paused = pausedForBacklog
        pausedForBacklog.removeAll()
        for connection in paused { connections?.resumeReading(connection) }
        logger.notice("accounting: the ledger caught up; reading from \(paused.count) miner connections again")
    }

    /// The ledger committed windows up to `sequence` (in order): their shares are acknowledged now. Loop thread
    /// (the ledger's commit handler hops here with `execute`).
    public func windowsCommitted(through sequence: UInt64) {
        let now = clock()
        while awaitingHead < awaitingCommit.count, awaitingCommit[awaitingHead].sequence <= sequence {
            let entry = awaitingCommit[awaitingHead]
            awaitingHead += 1
            statistics.accountingCommits &+= 1
            statistics.accountingLastCommitLatency = Swift.max(0, now - entry.closedAt)
            for id in entry.channels {
                let index = slotIndex(id)
                guard index < slots.count, slots[index] != nil, slots[index]!.sealedCount > 0,
                      slots[index]!.sealedWindow <= sequence
                else { continue }
                let ack = slots[index]!.takeSealedAck()
                deliver(ack, to: slots[index]!.connection)
                statistics.acksSent &+= 1
            }
        }
        if awaitingHead == awaitingCommit.count {
            awaitingCommit.removeAll(keepingCapacity: true)
            awaitingHead = 0
        } else if awaitingHead > 1024 {
            awaitingCommit.removeFirst(awaitingHead)
            awaitingHead = 0
        }
        // A commit made room: close the held window at once rather than at the next tick.
        if accountingBacklog { closeWindow(now: now) }
    }

    static func unixMilliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) &* 1000 &+ UInt64(spec.tv_nsec / 1_000_000)
    }

    private func flushPendingAcks() {
        guard !pendingAcks.isEmpty else { return }
        for id in pendingAcks {
            let index = slotIndex(id)
            guard index < slots.count, slots[index] != nil, slots[index]!.ackQueued else { continue }
            slots[index]!.ackQueued = false
            guard slots[index]!.pendingCount > 0 else { continue }
            let ack = slots[index]!.takeAck()
            deliver(ack, to: slots[index]!.connection)
            statistics.acksSent &+= 1
        }
        pendingAcks.removeAll(keepingCapacity: true)
    }

    /// Records, journals and submits a found block; `false` for a true duplicate (a block already handled).
    private func foundBlock(_ index: Int, share: Share, hash: Hash256, header: BlockHeader) -> Bool {
        guard !blocks.contains(hash) else {
            statistics.duplicateBlocks &+= 1
            return false
        }
        statistics.blocksFound &+= 1
        let channel = slots[index]!
        if let custom = channel.customJob(share.jobID) {
            statistics.customJobBlocksFound &+= 1
            foundCustomBlock(channel, custom, share: share, hash: hash, header: header)
            return true
        }
        let templateID = channel.templateID(ofJob: share.jobID)
        let template = templateID.flatMap { templates[$0] }
        guard let templateID, let template, let extranonce = channel.extranoncePrefix.appending(share.extranonce) else {
            // Cannot happen while templates outlive their jobs; if it does, the header is all there is to keep.
            let record = FoundBlock(
                hash: hash, header: header, templateID: templateID ?? 0, channelID: channel.id,
                userIdentity: channel.userIdentity, coinbaseTransaction: [])
            logger.critical("block \(hash) found on channel \(channel.id) but its template is gone: not submitted")
            _ = blocks.add(.init(block: record, solution: nil, state: .failed))
            journal(.init(event: .found, hash: hash, time: wallClock(), block: record))
            journal(.init(event: .failed, hash: hash, time: wallClock(), reason: "template gone"))
            statistics.blocksFailed &+= 1
            onBlockFound?(record)
            return true
        }
        let transaction = template.coinbase.transaction(extranonce: extranonce, witness: true)
        let solution = SubmitSolution(
            templateID: templateID, version: header.version, headerTimestamp: header.ntime,
            headerNonce: header.nonce, coinbaseTx: transaction)
        let record = FoundBlock(
            hash: hash, header: header, templateID: templateID, channelID: channel.id,
            userIdentity: channel.userIdentity, coinbaseTransaction: transaction)
        guard blocks.add(.init(block: record, solution: solution, state: .found)) else {
            // A flood of siblings at a trivial network target (regtest): enough of them are kept already.
            statistics.redundantBlocks &+= 1
            return true
        }
        journal(
            .init(event: .found, hash: hash, time: wallClock(), block: record, height: template.template.bip34Height),
            reward: template.template.coinbaseTxValueRemaining)
        logger.notice("block found: \(hash) by \(channel.userIdentity) (channel \(channel.id), template \(templateID))")
        onBlockFound?(record)
        submitBlocks(now: clock())
        return true
    }

    /// Submits what is pending on the current chain tip (one submission in flight per previous block).
    private func submitBlocks(now: Double) {
        guard templateSourceAvailable, let prevHash = chainTip?.prevHash else { return }
        let timeout = Self.seconds(configuration.blockAcknowledgementTimeout)
        while let index = blocks.nextToSubmit(prevHash: prevHash, now: now, timeout: timeout) {
            let entry = blocks.entries[index]
            guard let onSolution else {
                logger.warning("no template source to submit block \(entry.block.hash) to")
                return
            }
            // Asked first, in the same flush: once the block moved the tip, the template is gone from the provider.
            fetchBlockData(entry.block)
            do throws(Sv2ServiceError) {
                try onSolution(entry.solution!)
            } catch {
                statistics.submissionFailures &+= 1
                logger.error("block \(entry.block.hash) not submitted (kept, retried when the template source is back): \(error)")
                return
            }
            blocks.markSubmitted(index, now: now)
            statistics.solutionsSubmitted &+= 1
            journal(.init(event: .submitted, hash: entry.block.hash, time: wallClock()))
        }
    }

    private func journal(_ entry: BlockJournalEntry, reward: UInt64? = nil) {
        if ledger != nil {
            if windowBlocks.count < Self.maximumWindowBlocks {
                windowBlocks.append(ShareWindowBlock(
                    hash: entry.hash.displayHex, state: entry.event.rawValue, time: entry.time, height: entry.height,
                    userIdentity: entry.block?.userIdentity, channelID: entry.block?.channelID, reward: reward))
            } else {
                logger.critical("accounting: block \(entry.hash) (\(entry.event.rawValue)) not recorded: too many block events waiting (it is in the block journal)")
            }
        }
        guard let blockJournal else { return }
        do throws(BlockJournalError) { try blockJournal.append(entry) } catch {
            statistics.journalFailures &+= 1
            logger.critical("block \(entry.hash) (\(entry.event.rawValue)) not journaled: \(error)")
        }
    }

    /// Found blocks not yet settled by the chain tip (pending or submitted).
    public var unsettledBlockCount: Int { blocks.unsettledCount }

    /// The template source's link came up: blocks handed to the previous link may have died with it, so they
    /// are submitted again once the source announces a chain tip they still build on.
    public func templateSourceConnected() {
        templateLinkClosed("a new template link came up before the old one answered")
        blocks.resubmitAfterReconnect()
    }

    /// The template source's link is gone or silent: no new work is handed out (no job for new channels, no new
    /// job after a retarget) until a template source sends a chain tip again. Shares on jobs already out are still
    /// validated, and found blocks are kept for when the source is back.
    public func templateSourceLost() {
        templateLinkClosed("the template link dropped before the template provider answered")
        guard templateSourceAvailable else { return }
        templateSourceAvailable = false
        statistics.templateSourceLosses &+= 1
        logger.error("template source lost: no new work until it is back")
    }

    // MARK: Block data

    /// Sends `RequestTransactionData(templateID)` on the template link through ``onTransactionDataRequest``; its
    /// answer goes to ``onTransactionData`` (a found block's own request is answered to the block path instead).
    /// Throws `.notConnected` without a template link. Loop thread.
    public func requestTransactionData(templateID: UInt64) throws(Sv2ServiceError) {
        guard let send = onTransactionDataRequest else { throw .notConnected }
        try send(RequestTransactionData(templateID: templateID))
        blockData.sent(templateID: templateID, purpose: .forwarded)
    }

    /// Asks the template provider for the transactions of `block`'s template, so that the whole block can be
    /// journaled; a no-op without a block journal or a template link, and for a block journaled whole already
    /// or waiting. Called right before the block's `SubmitSolution`.
    private func fetchBlockData(_ block: FoundBlock) {
        let height = templates[block.templateID]?.template.bip34Height
        if let blockDataDelegate { return blockDataDelegate(block, height) }
        requestBlockData(block, height: height)
    }

    /// ``fetchBlockData(_:)`` on the pool that owns the template link (a cluster's other loops hand their blocks
    /// here). Loop thread.
    func requestBlockData(_ block: FoundBlock, height: UInt32?) {
        guard blockJournal != nil, let send = onTransactionDataRequest else { return }
        let deadline = clock() + Self.seconds(blockDataTimeout)
        switch blockData.want(block, height: height, deadline: deadline) {
        case .nothing, .joined:
            return
        case .full:
            blockDataFailed(block, "\(BlockDataRequests.maximumBlocks) blocks wait for their transactions already")
        case .send:
            do throws(Sv2ServiceError) {
                try send(RequestTransactionData(templateID: block.templateID))
                blockData.sent(templateID: block.templateID, purpose: .foundBlocks)
            } catch {
                for waiting in blockData.notSent(templateID: block.templateID) {
                    blockDataFailed(waiting.block, "RequestTransactionData not sent: \(error)")
                }
            }
        }
    }

    /// An answer to `RequestTransactionData` from the template link (``TemplateDistributionClient``):
    /// `transactions` `nil` for `RequestTransactionData.Error` (`errorCode` says why). A found block's request gets
    /// its blocks assembled, checked and journaled whole; any other goes to ``onTransactionData``. Loop thread.
    func receiveTransactionData(
        templateID: UInt64, transactions: [[UInt8]]?, excessData: [UInt8], errorCode: String? = nil
    ) {
        let (purpose, waiting) = blockData.answer(templateID: templateID)
        guard purpose == .foundBlocks else {
            if transactions == nil { logger.info("RequestTransactionData refused: \((errorCode ?? "?").debugDescription)") }
            onTransactionData?(templateID, transactions, excessData)
            return
        }
        if waiting.isEmpty {
            logger.info("transactions of template \(templateID) arrived after their blocks stopped waiting: ignored")
        }
        for entry in waiting {
            guard let transactions else {
                // Quoted: the code is the provider's text (escapes keep it on one log line).
                blockDataFailed(entry.block, "the template provider refused RequestTransactionData: \((errorCode ?? "?").debugDescription)")
                continue
            }
            let bytes: [UInt8]
            switch PoolBlockAssembly.assemble(entry.block, transactions: transactions) {
            case .failure(let failure):
                blockDataFailed(entry.block, "the template provider's transactions do not make this block: \(failure)")
                continue
            case .success(let assembled):
                bytes = assembled
            }
            // Appended directly (not through `journal`): it adds data, it is not a new event of the block, and
            // the accounting ledger must not count the block twice.
            guard let blockJournal else { continue }
            let hash = entry.block.hash
            do throws(BlockJournalError) {
                try blockJournal.append(.init(
                    event: .found, hash: hash, time: wallClock(), block: entry.block, height: entry.height,
                    blockData: bytes))
            } catch {
                statistics.journalFailures &+= 1
                blockDataFailed(entry.block, "journal write failed: \(error)")
                continue
            }
            blockData.journaledWhole(hash)
            statistics.blocksJournaledWhole &+= 1
            logger.notice("block \(hash) journaled whole (\(transactions.count + 1) transactions, \(bytes.count) bytes): `sv2 blocks submit` can send it to a node")
        }
    }

    /// The template link closed (or was replaced): its outstanding requests will not be answered.
    private func templateLinkClosed(_ reason: String) {
        for waiting in blockData.linkClosed() { blockDataFailed(waiting.block, reason) }
    }

    /// A block's data will not be journaled: logged (the block is unchanged in the journal) and counted.
    private func blockDataFailed(_ block: FoundBlock, _ reason: String) {
        statistics.blockDataFailures &+= 1
        logger.warning("block \(block.hash) (template \(block.templateID)) not journaled whole: \(reason); it stays journaled with its header and coinbase only (asked again if it is submitted again; `sv2 blocks submit --rpc` or the next `--rpc` start-up settles it if the node has it on its best chain, else `sv2 blocks settle`)")
    }

    // MARK: Job Declaration

    /// Handles `SetCustomMiningJob` (Job Declaration): checks the channel, the coinbase and `nbits`, then the token
    /// and payout with ``customJobAuthorizer``; answers `SetCustomMiningJob.Success` with the job id shares name, or
    /// `.Error`. The job is active at once; one on another previous block makes the channel's earlier jobs stale.
    public func setCustomMiningJob<Reply: PoolReplySink>(
        _ message: SetCustomMiningJobView, connection: Sv2ConnectionID, setupFlags: UInt32, reply: Reply
    ) throws(Sv2ServiceError) {
        func refuse(_ code: String) throws(Sv2ServiceError) {
            statistics.customJobRefusals[code, default: 0] &+= 1
            logger.info("custom job on channel \(message.channelID) refused: \(code)")
            try reply.send(SetCustomMiningJobError(
                channelID: message.channelID, requestID: message.requestID, errorCode: code))
        }
        guard let authorizer = customJobAuthorizer,
              setupFlags & Sv2SetupFlags.Mining.requiresWorkSelection != 0
        else { return try refuse("jd-not-supported") }
        let index = slotIndex(message.channelID)
        guard index >= 0, index < slots.count, let channel = slots[index], channel.connection == connection,
              channel.kind == .extended
        else { return try refuse("invalid-channel-id") }
        let extranonceLength = channel.extranoncePrefix.count + channel.rollableLength
        guard Coinbase.scriptSigLengths.contains(message.coinbasePrefix.count + extranonceLength) else {
            return try refuse("invalid-coinbase-prefix")
        }
        guard let outputs = TxOutput.parseList(message.coinbaseTxOutputs), !outputs.isEmpty else {
            return try refuse("invalid-coinbase-tx-outputs")
        }
        let prevHash = WireConversions.hash(message.prevHash)
        guard let networkTarget = Target(compact: message.nbits), networkTarget.value != .zero else {
            return try refuse("invalid-nbits")
        }
        // On the pool's own tip the difficulty is known: a job claiming an easier one would report false blocks.
        if let tip = chainTip, tip.prevHash == prevHash, tip.nbits != message.nbits { return try refuse("invalid-nbits") }
        let request = CustomMiningJobRequest(
            channelID: channel.id, userIdentity: channel.userIdentity, token: Array(message.miningJobToken),
            version: message.version, prevHash: prevHash, minNtime: message.minNtime, nbits: message.nbits,
            coinbaseTxVersion: message.coinbaseTxVersion, coinbasePrefix: Array(message.coinbasePrefix),
            coinbaseTxInputSequence: message.coinbaseTxInputSequence, coinbaseTxOutputs: outputs,
            coinbaseTxLocktime: message.coinbaseTxLocktime, merklePath: message.merklePath.map(WireConversions.hash))
        if let code = authorizer(request) { return try refuse(code) }
        let stripped = request.coinbaseParts(extranonceLength: extranonceLength, witness: false)
        let jobID = nextJobID
        nextJobID = nextJobID == .max ? 1 : nextJobID + 1
        let job = ShareJob(
            extendedJobID: jobID, version: request.version, versionRollingAllowed: true, prevHash: prevHash,
            coinbasePrefix: stripped.prefix, extranoncePrefix: channel.extranoncePrefix,
            extranonceSize: channel.rollableLength, coinbaseSuffix: stripped.suffix, merklePath: request.merklePath,
            nbits: request.nbits, minNtime: request.minNtime, target: channel.target)
        let newTip = channel.customPrevHash != prevHash
        slots[index]!.validator.activate(job, newChainTip: newTip)
        slots[index]!.customPrevHash = prevHash
        slots[index]!.record(jobID: jobID, templateID: 0, isFuture: false)
        if slots[index]!.customJobs.count >= PoolChannel.jobMemory { slots[index]!.customJobs.removeFirst() }
        slots[index]!.customJobs.append(.init(
            jobID: jobID, coinbase: request.coinbaseParts(extranonceLength: extranonceLength, witness: true)))
        statistics.customJobsAccepted &+= 1
        logger.debug("custom job \(jobID) on channel \(channel.id) (prev \(prevHash))")
        try reply.send(SetCustomMiningJobSuccess(channelID: channel.id, requestID: message.requestID, jobID: jobID))
    }

    /// A block on a custom job: journaled, reported and settled by the chain tip like the pool's own; the Job
    /// Declaration client that chose the transactions propagates it (the pool has no template to submit it with).
    private func foundCustomBlock(
        _ channel: PoolChannel, _ job: PoolChannel.CustomJobRecord, share: Share, hash: Hash256, header: BlockHeader
    ) {
        var transaction = job.coinbase.prefix
        if let extranonce = channel.extranoncePrefix.appending(share.extranonce) {
            transaction += extranonce.bytes
        }
        transaction += job.coinbase.suffix
        let record = FoundBlock(
            hash: hash, header: header, templateID: 0, channelID: channel.id, userIdentity: channel.userIdentity,
            coinbaseTransaction: transaction)
        guard blocks.add(.init(block: record, solution: nil, state: .found)) else {
            statistics.redundantBlocks &+= 1
            return
        }
        journal(.init(event: .found, hash: hash, time: wallClock(), block: record))
        logger.notice("block found on custom job: \(hash) by \(channel.userIdentity) (channel \(channel.id))")
        onBlockFound?(record)
    }

    /// Sets the outputs every coinbase starts with (the first gets the revenue) and re-issues the current work
    /// with them: every channel gets a new job at once and its earlier jobs become stale (they pay the old
    /// outputs). A Job Declaration client switches between the pool's outputs and its own (solo) this way.
    public func setCoinbaseOutputs(_ outputs: [TxOutput]) throws(PoolError) {
        guard !outputs.isEmpty else { throw .invalidConfiguration("no coinbase output") }
        guard outputs != coinbaseOutputs else { return }
        coinbaseOutputs = outputs
        try reissueWork()
    }

    /// Fits the extranonce layout into an upstream channel's (a Job Declaration client's): every channel prefix
    /// starts with `prefix` and the coinbase holds `size` bytes after it (local prefix ‖ rolled part), so the shares
    /// of every channel can be forwarded upstream. Templates are rebuilt and re-issued.
    ///
    /// A new prefix of the same length with the same size keeps the channels: each gets `SetExtranoncePrefix`
    /// with its prefix moved onto the new one, then new jobs. Any other change closes the open channels
    /// (`CloseChannel` `extranonce-layout-changed`): their coinbase no longer fits.
    public func setUpstreamExtranonce(prefix: Extranonce, size: Int) throws(PoolError) {
        let newRollable = size - configuration.extranoncePrefixLength
        guard newRollable >= 0, prefix.count + size <= Extranonce.maxLength else {
            throw .invalidConfiguration("upstream extranonce (\(prefix.count) + \(size) bytes) leaves no room for the local prefix")
        }
        if prefix == upstreamExtranoncePrefix, newRollable == rollableLength { return }
        if prefix.count == upstreamExtranoncePrefix.count, newRollable == rollableLength, prefix.count > 0 {
            do { try allocator.rebase(onto: prefix) } catch { throw .invalidConfiguration("extranonce layout: \(error)") }
            upstreamExtranoncePrefix = prefix
            for index in slots.indices where slots[index] != nil {
                let channel = slots[index]!
                slots[index]!.allocatedPrefix = Self.rebase(channel.allocatedPrefix, onto: prefix)
                slots[index]!.extranoncePrefix = Self.rebase(channel.extranoncePrefix, onto: prefix)
                deliver(
                    SetExtranoncePrefix(channelID: channel.id, extranoncePrefix: slots[index]!.extranoncePrefix.bytes),
                    to: channel.connection)
            }
            return try reissueWork()
        }
        let rebuilt: ExtranonceAllocator
        do {
            rebuilt = try ExtranonceAllocator(
                upstreamPrefix: prefix, localLength: configuration.extranoncePrefixLength,
                totalLength: prefix.count + size, reservedIDs: configuration.reservedExtranonceIDs,
                partition: configuration.partitionIndex, of: configuration.partitionCount)
        } catch {
            throw .invalidConfiguration("extranonce layout: \(error)")
        }
        for (connection, owned) in pools {
            for id in owned.channels {
                deliver(CloseChannel(channelID: id, reasonCode: "extranonce-layout-changed"), to: connection)
                free(id, connection: nil)
            }
            if let groupID = owned.groupID { freedChannelIDs.append(groupID) }
        }
        pools.removeAll()
        allocator = rebuilt
        rollableLength = newRollable
        upstreamExtranoncePrefix = prefix
        try reissueWork()
    }

    private static func rebase(_ extranonce: Extranonce, onto prefix: Extranonce) -> Extranonce {
        Extranonce(bytes: prefix.bytes + extranonce.bytes.dropFirst(prefix.count)) ?? extranonce
    }

    /// Rebuilds the current template with the current outputs and extranonce layout and sends it to every channel
    /// as a new future job activated at once (earlier jobs stale).
    private func reissueWork() throws(PoolError) {
        guard let templateID = currentTemplateID, let old = templates[templateID] else { return }
        let built = try PoolTemplate(
            template: old.template, configuration: configuration, outputs: coinbaseOutputs,
            extranonceLength: allocator.totalLength)
        templates = [templateID: built]
        guard let tip = chainTip, templateSourceAvailable else { return }
        for index in slots.indices where slots[index] != nil { slots[index]!.forgetFutureJobs() }
        // The tip's template id now names the rebuilt coinbase: activating it re-issues everything.
        try receive(chainTip: TemplateChainTip(
            templateID: templateID, prevHash: tip.prevHash, headerTimestamp: tip.headerTimestamp, nbits: tip.nbits,
            target: tip.target))
    }

    // MARK: Templates and jobs

    /// Takes a `NewTemplate`: future templates become future jobs on every channel; others become jobs valid at
    /// once (when a chain tip is known).
    public func receive(template: BlockTemplate) throws(PoolError) {
        let built = try PoolTemplate(
            template: template, configuration: configuration, outputs: coinbaseOutputs,
            extranonceLength: allocator.totalLength)
        statistics.templatesReceived += 1
        lastTemplateTime = clock()
        templates[template.templateID] = built
        pruneTemplates()
        let future = template.futureTemplate
        guard future || (chainTip != nil && templateSourceAvailable) else { return }
        if !future { currentTemplateID = template.templateID }
        forEachChannel { (index, sink) throws(Sv2ServiceError) in
            guard slots[index]!.groupID == 0, !slots[index]!.selectsWork else { return }  // group job below; custom work
            _ = try sendJob(built, channelIndex: index, future: future, reply: sink)
        }
        forEachGroup { (groupID, members, sink) throws(Sv2ServiceError) in
            _ = try sendGroupJob(built, groupID: groupID, members: members, future: future, reply: sink)
        }
        logger.debug("template \(template.templateID) (future: \(template.futureTemplate)) → \(channelCount) channels")
        if !future, let tip = chainTip { onWork?(template, built.coinbase, tip) }
    }

    /// Takes a `SetNewPrevHash` (Template Distribution): activates the future jobs of its template on every
    /// channel; every other job becomes stale.
    public func receive(chainTip tip: TemplateChainTip) throws(PoolError) {
        guard let template = templates[tip.templateID] else { throw .unknownTemplate(tip.templateID) }
        statistics.chainTipsReceived += 1
        chainTip = tip
        currentTemplateID = tip.templateID
        templates = [tip.templateID: template]
        templateSourceAvailable = true
        for (block, state) in blocks.settle(tip: tip.prevHash) {
            switch state {
            case .acknowledged:
                statistics.blocksAcknowledged &+= 1
                logger.notice("block \(block.hash) taken: it is the new chain tip")
            default:
                statistics.blocksSuperseded &+= 1
                logger.warning("block \(block.hash) superseded by chain tip \(tip.prevHash)")
            }
            journal(.init(event: state, hash: block.hash, time: wallClock()))
        }
        forEachChannel { (index, sink) throws(Sv2ServiceError) in
            // Activated through the group below; a channel selecting its work gets its new tip from its JD client.
            guard slots[index]!.groupID == 0, !slots[index]!.selectsWork else { return }
            var jobID = slots[index]!.futureJob(for: tip.templateID)
            if jobID == nil { jobID = try sendJob(template, channelIndex: index, future: true, reply: sink) }
            guard let jobID else { return }
            try activate(template, jobID: jobID, channelIndex: index, tip: tip, reply: sink)
        }
        forEachGroup { (groupID, members, sink) throws(Sv2ServiceError) in
            // The group's future job, if every member has it (one that joined since got its own first job).
            var jobID = slots[slotIndex(members[0])]!.futureJob(for: tip.templateID)
            if let shared = jobID, members.contains(where: { slots[slotIndex($0)]!.futureJob(for: tip.templateID) != shared }) {
                jobID = nil
            }
            if jobID == nil {
                jobID = try sendGroupJob(template, groupID: groupID, members: members, future: true, reply: sink)
            }
            guard let activeID = jobID else { return }
            for id in members {
                let index = slotIndex(id)
                slots[index]!.validator.activate(
                    template.shareJob(for: slots[index]!, jobID: activeID, merkleRoot: nil, tip: tip), newChainTip: true)
            }
            try sink.send(SetNewPrevHash(
                channelID: groupID, jobID: activeID, prevHash: WireConversions.u256(tip.prevHash),
                minNtime: tip.headerTimestamp, nbits: tip.nbits))
        }
        logger.info("new chain tip \(tip.prevHash) (template \(tip.templateID), \(channelCount) channels)")
        onWork?(template.template, template.coinbase, tip)
        submitBlocks(now: clock())
    }

    /// Job records per channel: the active jobs a validator holds plus as many future ones, so a job that can still
    /// be valid always has its record (and, through `pruneTemplates`, its template).
    static func jobMemory(_ configuration: PoolConfiguration) -> Int {
        Swift.max(PoolChannel.jobMemory, 2 * configuration.maximumActiveJobs)
    }

    private func pruneTemplates() {
        // A job stays valid as long as its channel's validator holds it (`maximumActiveJobs` per channel, one job per
        // template, recorded in `jobMemory` slots): its template must outlive the record, or a block found on it
        // could not be submitted ("template gone").
        let keep = Swift.max(32, Self.jobMemory(configuration) + 1)
        guard templates.count > keep else { return }
        // Keep the current template; drop the oldest of the rest.
        let oldest = templates.keys.filter { $0 != currentTemplateID }.sorted().prefix(templates.count - keep)
        for id in oldest { templates[id] = nil }
    }

    /// Sends a job for `template` to one channel; returns its id. Active jobs are validated from now on.
    private func sendJob<Reply: PoolReplySink>(
        _ template: PoolTemplate, channelIndex index: Int, future: Bool, reply: Reply
    ) throws(Sv2ServiceError) -> UInt32 {
        let jobID = nextJobID
        nextJobID = nextJobID == .max ? 1 : nextJobID + 1
        let channel = slots[index]!
        // After a duplicate-filter rollover the channel's shares must be above its ntime floor: say so in the job.
        let minNtime = future ? nil : chainTip.map { Swift.max($0.headerTimestamp, channel.validator.ntimeFloor) }
        var root: Hash256?
        switch channel.kind {
        case .extended:
            try reply.send(NewExtendedMiningJob(
                channelID: channel.id, jobID: jobID, minNtime: minNtime, version: template.template.version,
                versionRollingAllowed: true, merklePath: template.wirePath, coinbaseTxPrefix: template.stripped.prefix,
                coinbaseTxSuffix: template.stripped.suffix))
        case .standard:
            let merkleRoot = template.merkleRoot(extranonce: channel.extranoncePrefix)
            root = merkleRoot
            try reply.send(NewMiningJob(
                channelID: channel.id, jobID: jobID, minNtime: minNtime, version: template.template.version,
                merkleRoot: WireConversions.u256(merkleRoot)))
        }
        statistics.jobsSent += 1
        slots[index]!.record(jobID: jobID, templateID: template.template.templateID, isFuture: future)
        if !future, let tip = chainTip {
            let job = template.shareJob(for: channel, jobID: jobID, merkleRoot: root, tip: tip)
            slots[index]!.validator.activate(job, newChainTip: false)
        }
        return jobID
    }

    /// Sends one `NewExtendedMiningJob` for `template` to a group: every member (a standard channel) mines it with
    /// its own extranonce prefix as the whole extranonce. Returns the job id, shared by the members.
    private func sendGroupJob<Reply: PoolReplySink>(
        _ template: PoolTemplate, groupID: UInt32, members: [UInt32], future: Bool, reply: Reply
    ) throws(Sv2ServiceError) -> UInt32 {
        let jobID = nextJobID
        nextJobID = nextJobID == .max ? 1 : nextJobID + 1
        // Above every member's ntime floor (see sendJob).
        let floor = members.reduce(UInt32(0)) { Swift.max($0, slots[slotIndex($1)]!.validator.ntimeFloor) }
        try reply.send(NewExtendedMiningJob(
            channelID: groupID, jobID: jobID, minNtime: future ? nil : chainTip.map { Swift.max($0.headerTimestamp, floor) },
            version: template.template.version, versionRollingAllowed: true, merklePath: template.wirePath,
            coinbaseTxPrefix: template.stripped.prefix, coinbaseTxSuffix: template.stripped.suffix))
        statistics.jobsSent += 1
        for id in members {
            let index = slotIndex(id)
            slots[index]!.record(jobID: jobID, templateID: template.template.templateID, isFuture: future)
            if !future, let tip = chainTip {
                slots[index]!.validator.activate(
                    template.shareJob(for: slots[index]!, jobID: jobID, merkleRoot: nil, tip: tip), newChainTip: false)
            }
        }
        return jobID
    }

    /// The open channels of `owned` that get their jobs through its group.
    private func groupMembers(_ owned: ConnectionChannels) -> [UInt32] {
        guard let groupID = owned.groupID else { return [] }
        return owned.channels.filter { slots[slotIndex($0)]?.groupID == groupID }
    }

    /// Runs `body` for every group with members; a connection whose send fails is closed.
    private func forEachGroup(_ body: (UInt32, [UInt32], ConnectionSink) throws(Sv2ServiceError) -> Void) {
        for (connection, owned) in pools {
            guard let groupID = owned.groupID else { continue }
            let members = groupMembers(owned)
            guard !members.isEmpty else { continue }
            do throws(Sv2ServiceError) {
                try body(groupID, members, ConnectionSink(connections: connections, connection: connection))
            } catch {
                sendFailed(connection, error)
            }
        }
    }

    /// Activates a future job with `SetNewPrevHash`; earlier jobs of the channel become stale.
    private func activate<Reply: PoolReplySink>(
        _ template: PoolTemplate, jobID: UInt32, channelIndex index: Int, tip: TemplateChainTip, reply: Reply
    ) throws(Sv2ServiceError) {
        let channel = slots[index]!
        slots[index]!.validator.activate(
            template.shareJob(for: channel, jobID: jobID, merkleRoot: nil, tip: tip), newChainTip: true)
        try reply.send(SetNewPrevHash(
            channelID: channel.id, jobID: jobID, prevHash: WireConversions.u256(tip.prevHash),
            minNtime: tip.headerTimestamp, nbits: tip.nbits))
    }

    /// New target for a channel: `SetTarget`, then a fresh job at that target (jobs keep the target they were
    /// activated with, so the miner switches to work that is validated at the new one).
    private func retarget(_ index: Int, to target: Target) {
        let channel = slots[index]!
        statistics.targetUpdates += 1
        logger.debug("channel \(channel.id): difficulty \(channel.difficulty)")
        let sink = ConnectionSink(connections: connections, connection: channel.connection)
        do throws(Sv2ServiceError) {
            try sink.send(SetTarget(channelID: channel.id, maximumTarget: WireConversions.u256(target)))
            if !channel.selectsWork, templateSourceAvailable, chainTip != nil, let templateID = currentTemplateID,
               let template = templates[templateID] {
                _ = try sendJob(template, channelIndex: index, future: false, reply: sink)
            }
        } catch {
            sendFailed(channel.connection, error)
        }
    }

    /// Runs `body` for every open channel with a sink to its connection; a connection whose send fails is closed.
    private func forEachChannel(_ body: (Int, ConnectionSink) throws(Sv2ServiceError) -> Void) {
        for index in slots.indices where slots[index] != nil {
            let connection = slots[index]!.connection
            do throws(Sv2ServiceError) {
                try body(index, ConnectionSink(connections: connections, connection: connection))
            } catch {
                sendFailed(connection, error)
            }
        }
    }

    private func deliver<M: Sv2Message>(_ message: M, to connection: Sv2ConnectionID) {
        do throws(Sv2ServiceError) {
            try ConnectionSink(connections: connections, connection: connection).send(message)
        } catch {
            sendFailed(connection, error)
        }
    }

    private func sendFailed(_ connection: Sv2ConnectionID, _ error: Sv2ServiceError) {
        guard error != .notConnected else { return }
        logger.warning("closing \(connection): \(error)")
        connections?.close(connection)
    }
}

/// Sends to one connection of the attached server (drops messages when the pool is not attached).
private struct ConnectionSink: PoolReplySink {
    unowned(unsafe) let connections: Sv2ServerConnections?
    let connection: Sv2ConnectionID

    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        guard let connections else { return }
        try connections.send(message, to: connection)
    }
}

/// A weak reference to a pool that can cross to the ledger's writer thread (it is only dereferenced on the loop).
private final class PoolReference: @unchecked Sendable {
    weak var pool: Pool?
    init(_ pool: Pool) { self.pool = pool }
}

extension PoolChannel {
    /// This window's row.
    var windowRow: ShareWindowRow {
        ShareWindowRow(
            userIdentity: userIdentity, channelID: id, accepted: windowAccepted, difficulty: windowDifficulty,
            credit: windowCredit, rejected: windowRejected)
    }

    /// Counts an accepted share in this window; `true` when the channel is new in the window (queue it).
    mutating func addToWindow(_ credit: ShareCredit) -> Bool {
        windowAccepted &+= 1
        windowDifficulty += credit.difficulty
        windowCredit = ShareCredit.adding(credit.weight, to: windowCredit)
        guard !windowQueued else { return false }
        windowQueued = true
        return true
    }

    /// Zeroes this window's totals.
    mutating func resetWindow() {
        windowAccepted = 0
        windowDifficulty = 0
        windowCredit = 0
        for i in windowRejected.indices { windowRejected[i] = 0 }
    }

    /// Moves the pending acknowledgement into the sealed one (held until `window` is committed); `true` if any.
    mutating func sealPendingAck(window: UInt64) -> Bool {
        guard pendingCount > 0 else { return sealedCount > 0 }
        let (count, overflow) = sealedCount.addingReportingOverflow(pendingCount)
        sealedCount = overflow ? .max : count
        sealedSum = ShareCredit.adding(pendingSum, to: sealedSum)
        sealedSequence = lastSequence
        sealedWindow = window
        pendingCount = 0
        pendingSum = 0
        return true
    }

    /// The acknowledgement of the sealed shares; resets it.
    mutating func takeSealedAck() -> SubmitSharesSuccess {
        let ack = SubmitSharesSuccess(
            channelID: id, lastSequenceNumber: sealedSequence, newSubmitsAcceptedCount: sealedCount,
            newSharesSum: sealedSum)
        sealedCount = 0
        sealedSum = 0
        sealedWindow = 0
        return ack
    }

    /// Counts an accepted share worth `weight` for the next acknowledgement; `true` when the batch is full.
    mutating func recordAccepted(sequence: UInt32, weight: UInt64, batchSize: Int) -> Bool {
        accepted &+= 1
        pendingCount &+= 1
        pendingSum = ShareCredit.adding(weight, to: pendingSum)
        lastSequence = sequence
        vardiff.recordShare()
        return Int(pendingCount) >= batchSize
    }

    /// The acknowledgement of the pending shares; resets the batch.
    mutating func takeAck() -> SubmitSharesSuccess {
        let ack = SubmitSharesSuccess(
            channelID: id, lastSequenceNumber: lastSequence, newSubmitsAcceptedCount: pendingCount,
            newSharesSum: pendingSum)
        pendingCount = 0
        pendingSum = 0
        return ack
    }
}

extension Pool {
    static func seconds(_ duration: Duration) -> Double {
        let (whole, fraction) = duration.components
        return Double(whole) + Double(fraction) / 1e18
    }
}
