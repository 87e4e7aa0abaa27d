public import Logging
public import Reactor
public import Sv2Service
import Sv1
import Sv2Codec
import Sv2Bitcoin
public import Sv2Mining

/// The translator's Sv2 client to the pool.
public typealias TranslatorUpstreamClient =
    Sv2Client<TranslatorUpstreamHandler, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// A Stratum V1 → V2 translator: an Sv1 server for devices and ONE Sv2 extended channel upstream, on one loop.
///
/// - Extranonce: the upstream channel's extranonce space (prefix `P`, `S` rollable bytes) is carved like SRI's
///   aggregated mode: device `i` gets `extranonce1 = P ‖ id(i) ‖ zero padding` and rolls `extranonce2_size`
///   bytes; the share goes upstream with extranonce `id(i) ‖ padding ‖ extranonce2`, so no two devices ever
///   search the same coinbase and the pool rebuilds exactly the header the device hashed.
/// - Jobs: an upstream job becomes a `mining.notify` once it is active (Sv1 has no future jobs): on
///   `SetNewPrevHash` with `clean_jobs = true`, an immediate `NewExtendedMiningJob` with `false`. The line is
///   built once and written to every device.
/// - Shares: each device's shares are validated locally against its own difficulty (the difficulty its job id
///   was sent with). A valid share that meets the upstream target becomes a `SubmitSharesExtended`, and the
///   device's answer waits for the pool's (acks mapped back by sequence number); the others are answered at once.
/// - Difficulty: per-device vardiff toward `sharesPerMinute`; a change is a `mining.set_difficulty` followed by a
///   re-notify of the running job under a new id.
///
/// Upstream loss answers every share still waiting (`upstream-unavailable`). Devices that sent
/// `mining.extranonce.subscribe` stay connected: their shares are answered `upstream-unavailable` until the next
/// upstream channel is open, then each gets its new extranonce with `mining.set_extranonce` (omitted when it did not
/// change) and the next job with `clean_jobs`. Other subscribed devices cannot be told a new extranonce: they get
/// `client.reconnect` and are closed (they come back when the upstream is up again). Devices still waiting for their
/// subscribe answer keep waiting. Loop thread only; keep the translator
/// alive while it runs (devices and the upstream handler refer to it weakly: released early, their links close on
/// their next input), `stop()` closes both sides.
public final class Sv2Translator {
    /// The configuration it was started with.
    public let configuration: TranslatorConfiguration
    /// The loop it runs on.
    public let eventLoop: EventLoop
    /// Counters.
    public private(set) var statistics = TranslatorStatistics()
    /// The upstream client (nil until `start`).
    public private(set) var upstream: TranslatorUpstreamClient?
    /// The failover driving the upstream link, when `upstreamEndpoints` is set.
    public private(set) var failover: Sv2Failover?
    /// The upstream channel's jobs, tip, target and extranonce, once open.
    public private(set) var upstreamChannel: MinerJobTracker?

    private let logger: Logger
    private var listener: Listener?
    private var devices: [UInt64: Sv1DeviceSession] = [:]
    private var allocator: ExtranonceAllocator?
    private var deviceExtranonce2Size = 0
    private var padding = 0
    private var upstreamGroupID: UInt32?
    private var jobBook = TranslatorJobBook()
    private var inFlight: [InFlightShare] = []
    private var inFlightHead = 0
    private var nextSequence: UInt32 = 0
    /// How the upstream counts in `SubmitShares.Success` (per message, or totals like SRI).
    public private(set) var upstreamSemantics = SubmitSuccessSemantics()
    private var vardiffTimer: TimerHandle?
    private var nextSubscriptionID: UInt64 = 1

    private struct InFlightShare {
        let sequence: UInt32
        let device: UInt64
        let requestID: Sv1ID
        var settled = false
    }

    /// Creates a translator without starting it.
    public init(
        configuration: TranslatorConfiguration, eventLoop: EventLoop,
        logger: Logger = Logger(label: "stratum.translator")
    ) throws(Sv2ServiceError) {
        try configuration.validate()
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Creates and starts a translator (loop thread, or before the loop runs).
    public static func start(
        configuration: TranslatorConfiguration, eventLoop: EventLoop,
        logger: Logger = Logger(label: "stratum.translator")
    ) throws(Sv2ServiceError) -> Sv2Translator {
        let translator = try Sv2Translator(configuration: configuration, eventLoop: eventLoop, logger: logger)
        try translator.start()
        return translator
    }

    /// Listens for devices and connects upstream (once).
    public func start() throws(Sv2ServiceError) {
        guard upstream == nil else { return }
        let client = try TranslatorUpstreamClient(
            configuration: configuration.upstream, eventLoop: eventLoop, mining: TranslatorUpstreamHandler(translator: self),
            jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: NullSv2TemplateDistributionClientHandler(), logger: logger)
        do {
            listener = try eventLoop.listen(on: configuration.listenAddress) { [weak self] connection in
                self?.accept(connection)
            }
        } catch {
            throw .invalidConfiguration("cannot listen on \(configuration.listenAddress): \(error)")
        }
        upstream = client
        if configuration.upstreamEndpoints.isEmpty {
            client.connect()
        } else {
            let failover = try Sv2Failover(
                endpoints: configuration.upstreamEndpoints, policy: configuration.reconnectPolicy, eventLoop: eventLoop,
                logger: logger)
            failover.drive(client)
            self.failover = failover
            failover.start()
        }
        scheduleVardiff()
    }

    /// Stops listening, closes every device and the upstream link.
    public func stop() {
        listener?.close()
        listener = nil
        if let vardiffTimer { eventLoop.cancel(vardiffTimer) }
        vardiffTimer = nil
        failover?.stop()
        for device in Array(devices.values) { device.connection.close() }
        upstream?.close()
    }

    /// The address devices connect to (useful with port 0).
    public var localAddress: SocketAddress? { listener?.localAddress }

    /// Devices connected now.
    public var deviceCount: Int { devices.count }

    /// The current difficulty of each mining device, by connection id.
    public var deviceDifficulties: [UInt64: Double] {
        devices.compactMapValues { $0.isMining ? $0.target.difficulty : nil }
    }

    /// Per-device share counters (valid locally, accepted upstream), by connection id.
    public var deviceShares: [UInt64: (valid: UInt64, upstreamAccepted: UInt64, upstreamRejected: UInt64)] {
        devices.mapValues { ($0.sharesValid, $0.upstreamAccepted, $0.upstreamRejected) }
    }

    // MARK: Devices

    private func accept(_ connection: Connection) -> (any ConnectionHandler)? {
        guard devices.count < configuration.maxDevices else {
            statistics.devicesRefused += 1
            return nil
        }
        let device = Sv1DeviceSession(
            translator: self, connection: connection, maxLineLength: configuration.maxLineLength,
            duplicateFilterCapacity: configuration.duplicateFilterCapacity)
        devices[connection.id] = device
        statistics.devices = devices.count
        statistics.devicesAccepted += 1
        return device
    }

    func deviceDidClose(_ device: Sv1DeviceSession, reason: CloseReason) {
        guard devices.removeValue(forKey: device.id) != nil else { return }
        if let prefix = device.allocatedPrefix { try? allocator?.release(prefix) }
        statistics.devices = devices.count
    }

    func deviceViolated(_ device: Sv1DeviceSession, _ error: Sv1ProtocolError) {
        statistics.protocolCloses += 1
        logger.notice("closing device \(device.connection.remoteAddress): \(error)")
        device.connection.abort()
    }

    func deviceSentMalformed(_ device: Sv1DeviceSession, _ error: Sv1RequestError) {
        statistics.malformedLines += 1
        logger.debug("malformed line from \(device.connection.remoteAddress): \(error)")
        device.send(Sv1Line.error(id: error.id, code: .other, message: "\(error.error)"))
        if device.malformed > configuration.maxMalformedLines {
            statistics.protocolCloses += 1
            logger.notice("closing device \(device.connection.remoteAddress): \(device.malformed) malformed lines")
            device.connection.close()
        }
    }

    func handle(_ request: Sv1Request, from device: Sv1DeviceSession) {
        switch request.method {
        case .configure(let configure):
            var mask: UInt32?
            if let requested = configure.versionRollingMask {
                device.versionMask = requested & ShareJob.versionRollingMask
                mask = device.versionMask
            }
            var minimum: Bool?
            if let value = configure.minimumDifficulty {
                device.minimumDifficulty = value
                minimum = true
            }
            device.send(Sv1Line.configureResult(id: request.id, versionRollingMask: mask, minimumDifficulty: minimum))
        case .subscribe:
            guard !device.subscribed, device.pendingSubscribe == nil else {
                return device.send(Sv1Line.error(id: request.id, code: .other, message: "already subscribed"))
            }
            device.pendingSubscribe = request.id
            if upstreamChannel != nil { subscribe(device) }  // else answered once the upstream channel is open
        case .authorize(let user, _):
            // The upstream channel carries the translator's identity; device names only label its shares.
            guard device.workers.count < 64 || device.workers.contains(user) else {
                return device.send(Sv1Line.error(id: request.id, code: .other, message: "too many workers"))
            }
            device.workers.insert(user)
            device.send(Sv1Line.result(id: request.id, "true"))
        case .extranonceSubscribe:
            device.extranonceSubscribed = true
            device.send(Sv1Line.result(id: request.id, "true"))
        case .suggestDifficulty(let difficulty):
            device.suggestedDifficulty = difficulty
            if device.isMining, let target = Target(difficulty: difficulty) {
                retarget(device, to: target)
            }
            device.send(Sv1Line.result(id: request.id, "true"))
        case .submit(let submit):
            self.submit(submit, id: request.id, from: device)
        case .unknown(let name):
            device.send(Sv1Line.error(id: request.id, code: .other, message: "unknown method \(name)"))
        }
    }

    /// Answers a pending subscribe: carves the device's extranonce1, starts its vardiff, sends difficulty and job.
    private func subscribe(_ device: Sv1DeviceSession) {
        guard let requestID = device.pendingSubscribe, var allocator, let tracker = upstreamChannel else { return }
        device.pendingSubscribe = nil
        guard assignExtranonce(device, allocator: &allocator, tracker: tracker) else {
            device.send(Sv1Line.error(id: requestID, code: .other, message: "extranonce space exhausted"))
            return
        }
        self.allocator = allocator
        device.subscribed = true
        let subscription = String(nextSubscriptionID, radix: 16)
        nextSubscriptionID &+= 1
        device.send(Sv1Line.subscribeResult(
            id: requestID, subscriptionID: subscription, extranonce1: device.extranonce1.bytes,
            extranonce2Size: device.extranonce2Size))

        let now = seconds()
        var easiest = Target(difficulty: configuration.minimumDifficulty) ?? .max
        if let own = device.minimumDifficulty, let floor = Target(difficulty: own) { easiest = Swift.min(easiest, floor) }
        let vardiffConfiguration = Vardiff.Configuration(
            sharesPerMinute: configuration.sharesPerMinute, window: configuration.vardiffWindow, maxStep: 4,
            minimumTarget: Target(.zero), maximumTarget: easiest)
        var vardiff = Vardiff(configuration: vardiffConfiguration, nominalHashrate: configuration.deviceHashrate, now: now)
        if let suggested = device.suggestedDifficulty, let target = Target(difficulty: suggested) {
            vardiff.reset(target: target, now: now)
        }
        device.vardiff = vardiff
        device.target = vardiff.target
        device.send(Sv1Line.setDifficulty(vardiff.target.difficulty))
        if let job = tracker.activeJob, let tip = tracker.chainTip {
            notify(device, job: job, tip: tip, clean: true)
        }
    }

    /// Carves the device's extranonce1 (`upstream prefix ‖ device id ‖ padding`) out of the upstream channel's space
    /// and empties its validator (jobs of another extranonce are void); false when the space is exhausted.
    private func assignExtranonce(
        _ device: Sv1DeviceSession, allocator: inout ExtranonceAllocator, tracker: MinerJobTracker
    ) -> Bool {
        guard let allocated = try? allocator.allocate() else { return false }
        device.allocatedPrefix = allocated
        let pad = Extranonce(bytes: [UInt8](repeating: 0, count: padding))!
        device.extranonce1 = allocated.appending(pad)!
        device.upstreamExtranoncePrefix = Array(device.extranonce1.bytes.dropFirst(tracker.extranoncePrefix.count))
        device.extranonce2Size = deviceExtranonce2Size
        device.resetValidator(duplicateFilterCapacity: configuration.duplicateFilterCapacity)
        return true
    }

    /// A subscribed device kept through an upstream loss, on the new upstream channel: a new extranonce (pushed with
    /// `mining.set_extranonce` when it differs from the old one), then the running job as a clean one.
    private func rehome(_ device: Sv1DeviceSession, allocator: inout ExtranonceAllocator, tracker: MinerJobTracker) {
        let old = (device.extranonce1, device.extranonce2Size)
        guard assignExtranonce(device, allocator: &allocator, tracker: tracker) else {
            logger.error("device \(device.connection.remoteAddress): no extranonce left on the new upstream channel")
            device.send(Sv1Line.reconnect())
            device.connection.close()
            return
        }
        if old != (device.extranonce1, device.extranonce2Size) {
            statistics.extranonceUpdates += 1
            device.send(Sv1Line.setExtranonce(device.extranonce1.bytes, extranonce2Size: device.extranonce2Size))
        }
        if let job = tracker.activeJob, let tip = tracker.chainTip {
            notify(device, job: job, tip: tip, clean: true)
        }
    }

    /// Sends `job` to one device under a fresh Sv1 id (joining, retarget).
    /// On a device whose duplicate filter rolled over, the job's `ntime` starts above everything accepted before.
    private func notify(_ device: Sv1DeviceSession, job: MinerJob, tip: MinerJobTracker.ChainTip, clean: Bool) {
        let id = jobBook.add(upstreamJobID: job.jobID, version: job.version)
        let floor = clean ? 0 : device.validator.ntimeFloor
        guard let notify = Self.notify(job, id: id, tip: tip, clean: clean, ntimeFloor: floor) else { return }
        activate(device, job: job, id: id, tip: tip, clean: clean, ntimeFloor: floor)
        device.send(Sv1Line.notify(notify))
    }

    /// Makes `job` (Sv1 id `id`) valid for `device` at its current target.
    private func activate(
        _ device: Sv1DeviceSession, job: MinerJob, id: UInt32, tip: MinerJobTracker.ChainTip, clean: Bool,
        ntimeFloor: UInt32 = 0
    ) {
        guard case .extended(let prefix, let suffix, let path) = job.body else { return }
        let minNtime = Swift.max(job.minNtime ?? tip.minNtime, tip.minNtime, ntimeFloor)
        device.validator.activate(
            ShareJob(
                extendedJobID: id, version: job.version, versionRollingAllowed: job.versionRollingAllowed,
                prevHash: tip.prevHash, coinbasePrefix: prefix, extranoncePrefix: device.extranonce1,
                extranonceSize: device.extranonce2Size, coinbaseSuffix: suffix, merklePath: path, nbits: tip.nbits,
                minNtime: minNtime, target: device.target),
            newChainTip: clean)
    }

    /// The `mining.notify` of an extended job on `tip`.
    static func notify(
        _ job: MinerJob, id: UInt32, tip: MinerJobTracker.ChainTip, clean: Bool, ntimeFloor: UInt32 = 0
    ) -> Sv1Notify? {
        guard case .extended(let prefix, let suffix, let path) = job.body else { return nil }
        return Sv1Notify(
            jobID: TranslatorJobBook.text(id), prevHash: tip.prevHash.bytes, coinbase1: prefix, coinbase2: suffix,
            merkleBranch: path.map(\.bytes), version: job.version, nbits: tip.nbits,
            ntime: Swift.max(job.minNtime ?? tip.minNtime, tip.minNtime, ntimeFloor), cleanJobs: clean)
    }

    /// Sends the active upstream job to every mining device (built once).
    private func broadcastActiveJob(clean: Bool) {
        guard let tracker = upstreamChannel, let job = tracker.activeJob, let tip = tracker.chainTip else { return }
        let id = jobBook.add(upstreamJobID: job.jobID, version: job.version)
        guard let notify = Self.notify(job, id: id, tip: tip, clean: clean) else { return }
        statistics.jobsNotified += 1
        var line = Sv1Line.notify(notify)
        line.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            for device in devices.values where device.isMining {
                if !clean, device.validator.ntimeFloor > notify.ntime {
                    self.notify(device, job: job, tip: tip, clean: false)  // its own ntime floor
                    continue
                }
                activate(device, job: job, id: id, tip: tip, clean: clean)
                device.connection.write(bytes)
            }
        }
    }

    private func retarget(_ device: Sv1DeviceSession, to requested: Target) {
        guard var vardiff = device.vardiff else { return }
        vardiff.reset(target: requested, now: seconds())
        device.vardiff = vardiff
        applyTarget(device, vardiff.target)
    }

    private func applyTarget(_ device: Sv1DeviceSession, _ target: Target) {
        guard target != device.target else { return }
        device.target = target
        statistics.retargets += 1
        device.send(Sv1Line.setDifficulty(target.difficulty))
        if let tracker = upstreamChannel, let job = tracker.activeJob, let tip = tracker.chainTip {
            notify(device, job: job, tip: tip, clean: false)
        }
    }

    private func scheduleVardiff() {
        let interval = Duration.milliseconds(Int64(Swift.max(configuration.vardiffWindow, 0.05) * 1000))
        vardiffTimer = eventLoop.schedule(after: interval) { [weak self] in
            guard let self else { return }
            let now = self.seconds()
            for device in self.devices.values where device.isMining {
                guard var vardiff = device.vardiff else { continue }
                let changed = vardiff.update(now: now)
                device.vardiff = vardiff
                if let changed { self.applyTarget(device, changed) }
            }
            self.scheduleVardiff()
        }
    }

    private func seconds() -> Double { Double(eventLoop.now) / 1e9 }

    // MARK: Shares

    private func submit(_ submit: Sv1Submit, id: Sv1ID, from device: Sv1DeviceSession) {
        statistics.sharesReceived += 1
        guard device.isMining else { return reject(device, id, .notSubscribed, "not subscribed") }
        // A device kept through an upstream loss has no valid job until the next channel is open: its shares could
        // be neither forwarded nor credited, so they are answered, not held.
        guard upstreamChannel != nil else {
            return reject(device, id, .other, Self.upstreamUnavailable, code: Self.upstreamUnavailable)
        }
        guard device.workers.contains(submit.worker) else {
            return reject(device, id, .unauthorized, "worker \(submit.worker) is not authorized")
        }
        guard let jobID = TranslatorJobBook.id(submit.jobID), let entry = jobBook[jobID] else {
            return reject(device, id, .jobNotFound, "job not found", code: ShareRejection.invalidJobID.code)
        }
        guard submit.extranonce2.count == device.extranonce2Size,
              let extranonce2 = Extranonce(bytes: submit.extranonce2)
        else {
            return reject(device, id, .other, "extranonce2 must be \(device.extranonce2Size) bytes",
                          code: ShareRejection.badExtranonceSize.code)
        }
        var version = entry.version
        if let bits = submit.versionBits {
            guard bits & ~device.versionMask == 0 else {
                return reject(device, id, .other, "version bits outside the negotiated mask",
                              code: ShareRejection.invalidNonRollableVersionBit.code)
            }
            version = (version & ~device.versionMask) | bits
        }
        let share = Share(jobID: jobID, nonce: submit.nonce, ntime: submit.ntime, version: version, extranonce: extranonce2)
        let outcome = device.validator.validate(share)
        if device.validator.needsFreshJob, let tracker = upstreamChannel, let job = tracker.activeJob,
           let tip = tracker.chainTip {
            // The duplicate filter filled: every job of this device was retired (never forgetting a share).
            // The running job comes again with an ntime above every share accepted so far.
            statistics.jobRenewals += 1
            notify(device, job: job, tip: tip, clean: false)
        }
        let hash: Hash256
        switch outcome {
        case .rejected(let rejection):
            let code: Sv1ErrorCode = switch rejection {
            case .staleShare, .invalidJobID: .jobNotFound
            case .duplicateShare: .duplicateShare
            case .difficultyTooLow: .lowDifficulty
            default: .other
            }
            return reject(device, id, code, rejection.code, code: rejection.code)
        case .accepted(let accepted): hash = accepted
        case .blockFound(let block, _): hash = block
        }
        statistics.sharesValid += 1
        device.sharesValid += 1
        if var vardiff = device.vardiff {
            vardiff.recordShare()
            let changed = vardiff.update(now: seconds())
            device.vardiff = vardiff
            // The new difficulty applies to the job re-sent with it; this share was checked at its own job's.
            if let changed { applyTarget(device, changed) }
        }
        let isBlock = outcome != .accepted(hash: hash)
        if isBlock {
            statistics.blocksFound += 1
            logger.notice("block found by \(submit.worker) at \(device.connection.remoteAddress): \(hash)")
        }
        guard let tracker = upstreamChannel, isBlock || tracker.workTarget.isMet(by: hash) else {
            return device.send(Sv1Line.result(id: id, "true"))
        }
        guard let upstream, inFlight.count - inFlightHead < configuration.maxInFlightShares else {
            return reject(device, id, .other, Self.upstreamUnavailable, code: Self.upstreamUnavailable)
        }
        let sequence = nextSequence
        do {
            try upstream.send(SubmitSharesExtended(
                channelID: tracker.channelID, sequenceNumber: sequence, jobID: entry.upstreamJobID, nonce: submit.nonce,
                ntime: submit.ntime, version: version, extranonce: device.upstreamExtranoncePrefix + submit.extranonce2))
        } catch {
            logger.debug("share not forwarded: \(error)")
            return reject(device, id, .other, Self.upstreamUnavailable, code: Self.upstreamUnavailable)
        }
        nextSequence &+= 1
        statistics.sharesForwarded += 1
        inFlight.append(InFlightShare(sequence: sequence, device: device.id, requestID: id))
    }

    /// The message of a valid share the translator could not forward (upstream down or congested).
    static let upstreamUnavailable = "upstream-unavailable"

    private func reject(
        _ device: Sv1DeviceSession, _ id: Sv1ID, _ code: Sv1ErrorCode, _ message: String, code statisticsCode: String? = nil
    ) {
        device.sharesRejected += 1
        statistics.rejections[statisticsCode ?? "\(code)", default: 0] += 1
        device.send(Sv1Line.error(id: id, code: code, message: message))
    }

    // MARK: Upstream (called by TranslatorUpstreamHandler)

    func upstreamDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(OpenExtendedMiningChannel(
            requestID: 1, userIdentity: configuration.userIdentity, nominalHashRate: configuration.upstreamHashrate,
            maxTarget: U256(limbs: (.max, .max, .max, .max)),
            minExtranonceSize: UInt16(configuration.deviceIDLength + configuration.extranonce2Size)))
    }

    func upstreamChannelOpened(_ tracker: MinerJobTracker, groupChannelID: UInt32) throws(Sv2ServiceError) {
        let size = tracker.extranonceSize
        guard size >= 2 else { throw .rejected("upstream extranonce size \(size): nothing to carve for devices") }
        let idLength = Swift.min(configuration.deviceIDLength, size - 1)
        do {
            allocator = try ExtranonceAllocator(
                upstreamPrefix: tracker.extranoncePrefix, localLength: idLength,
                totalLength: tracker.extranoncePrefix.count + idLength)
        } catch {
            throw .rejected("\(error)")
        }
        deviceExtranonce2Size = Swift.min(configuration.extranonce2Size, size - idLength)
        padding = size - idLength - deviceExtranonce2Size
        upstreamChannel = tracker
        upstreamSemantics = SubmitSuccessSemantics()
        upstreamGroupID = groupChannelID == 0 ? nil : groupChannelID
        statistics.upstreamChannelID = tracker.channelID
        logger.info(
            "upstream channel \(tracker.channelID) open: prefix \(tracker.extranoncePrefix), \(size) bytes; devices roll \(deviceExtranonce2Size)")
        if var allocator {
            // Devices kept through an upstream loss move onto this channel (in connection order: deterministic ids).
            for key in devices.keys.sorted() {
                guard let device = devices[key], device.subscribed else { continue }
                rehome(device, allocator: &allocator, tracker: tracker)
            }
            self.allocator = allocator
        }
        for device in devices.values where device.pendingSubscribe != nil { subscribe(device) }
    }

    func upstreamChannelRefused(code: String) {
        logger.error("upstream refused the channel: \(code)")
        for device in devices.values {
            if let id = device.pendingSubscribe {
                device.pendingSubscribe = nil
                device.send(Sv1Line.error(id: id, code: .other, message: "upstream refused the channel: \(code)"))
            }
        }
    }

    func upstreamJob(_ message: NewExtendedMiningJobView) throws(Sv2ServiceError) {
        let job = MinerJob(message)
        try updateUpstream(channel: message.channelID) { (tracker) throws(MinerJobError) in _ = try tracker.receive(job) }
        if !job.isFuture { broadcastActiveJob(clean: false) }
    }

    func upstreamPrevHash(_ message: SetNewPrevHashView) throws(Sv2ServiceError) {
        try updateUpstream(channel: message.channelID) { (tracker) throws(MinerJobError) in _ = try tracker.receive(message) }
        broadcastActiveJob(clean: true)
    }

    func upstreamTarget(_ message: SetTargetView) throws(Sv2ServiceError) {
        let limbs = message.maximumTarget.limbs
        let target = Target(UInt256(w0: limbs.0, w1: limbs.1, w2: limbs.2, w3: limbs.3))
        try updateUpstream(channel: message.channelID) { (tracker) throws(MinerJobError) in _ = tracker.setTarget(target) }
    }

    func upstreamAccepted(lastSequenceNumber: UInt32, count: UInt32, sum: UInt64) {
        // Count from last_sequence_number progress: pools differ on whether new_submits_accepted_count is per
        // message or cumulative (SRI), but "everything up to here not rejected was accepted" holds for both.
        var acknowledged: UInt32 = 0
        defer {
            let wasCumulative = upstreamSemantics.isCumulative
            let delta = upstreamSemantics.interpret(count: count, sum: sum, acknowledged: acknowledged)
            if !wasCumulative, upstreamSemantics.isCumulative {
                logger.notice("upstream reports SubmitShares.Success counts as totals (SRI); counting from sequence numbers")
            }
            if !delta.countAgreed {
                statistics.upstreamInconsistentAcks += 1
                logger.debug("upstream acknowledged \(acknowledged) shares, its count says otherwise (\(count))")
            }
        }
        while inFlightHead < inFlight.count,
              Int32(bitPattern: inFlight[inFlightHead].sequence &- lastSequenceNumber) <= 0 {
            let entry = inFlight[inFlightHead]
            inFlightHead += 1
            guard !entry.settled else { continue }
            acknowledged &+= 1
            statistics.upstreamAccepted += 1
            if let device = devices[entry.device] {
                device.upstreamAccepted += 1
                device.send(Sv1Line.result(id: entry.requestID, "true"))
            }
        }
        compactInFlight()
    }

    func upstreamRejected(sequenceNumber: UInt32, code: String) {
        statistics.upstreamRejected += 1
        guard let index = inFlight[inFlightHead...].firstIndex(where: { $0.sequence == sequenceNumber && !$0.settled })
        else { return }
        inFlight[index].settled = true
        let entry = inFlight[index]
        logger.notice("pool rejected share \(sequenceNumber): \(code)")
        if let device = devices[entry.device] {
            device.upstreamRejected += 1
            let sv1Code: Sv1ErrorCode = switch code {
            case ShareRejection.staleShare.code, ShareRejection.invalidJobID.code: .jobNotFound
            case ShareRejection.duplicateShare.code: .duplicateShare
            case ShareRejection.difficultyTooLow.code: .lowDifficulty
            default: .other
            }
            device.send(Sv1Line.error(id: entry.requestID, code: sv1Code, message: code))
        }
        if index == inFlightHead {
            while inFlightHead < inFlight.count, inFlight[inFlightHead].settled { inFlightHead += 1 }
            compactInFlight()
        }
    }

    func upstreamDidClose() {
        for entry in inFlight[inFlightHead...] where !entry.settled {
            statistics.upstreamLost += 1
            devices[entry.device]?.send(
                Sv1Line.error(id: entry.requestID, code: .other, message: Self.upstreamUnavailable))
        }
        inFlight.removeAll()
        inFlightHead = 0
        upstreamChannel = nil
        allocator = nil
        statistics.upstreamChannelID = nil
        let reconnect = Sv1Line.reconnect()
        var kept = 0, sentAway = 0
        for device in Array(devices.values) where device.subscribed {
            if device.extranonceSubscribed {
                // Kept: no job is valid any more (the next channel has another extranonce space).
                device.allocatedPrefix = nil
                device.resetValidator(duplicateFilterCapacity: configuration.duplicateFilterCapacity)
                kept += 1
            } else {
                device.send(reconnect)
                device.connection.close()
                sentAway += 1
            }
        }
        statistics.devicesKeptOnUpstreamLoss += UInt64(kept)
        logger.warning(
            "upstream connection closed; waiting shares answered, \(kept) devices kept (extranonce.subscribe), \(sentAway) asked to reconnect")
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
}
