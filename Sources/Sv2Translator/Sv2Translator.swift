public import Logging
public import Reactor
public import Sv2Service
import Sv1
import Sv2Codec
public import Sv2Mining

/// The translator's Sv2 client to the pool.
public typealias TranslatorUpstreamClient =
    Sv2Client<TranslatorUpstreamHandler, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// A Stratum V1 → V2 translator: an Sv1 server for devices and an Sv2 client to the pool, on one loop, with one
/// upstream connection carrying one extended channel (``TranslatorChannelMode/aggregated``) or one per device
/// (``TranslatorChannelMode/perDevice``).
///
/// - Channels: each upstream channel is a ``TranslatorChannel`` with the devices mining on it; jobs, shares and
///   acknowledgements work on channels the same way in both modes. The modes differ only in when channels are
///   requested (the shared one when the connection is set up; a device's own when it subscribes, or after an upstream
///   loss for a device that was kept) and in how a channel's extranonce space is split
///   (``TranslatorExtranonceSpace``).
/// - Extranonce: aggregated, device `i` gets `extranonce1 = P ‖ id(i) ‖ zero padding` out of the shared channel's
///   prefix `P` (like SRI's aggregated mode); per device, `extranonce1 = P ‖ zero padding` of its own channel. Shares
///   go upstream with the bytes after `P` plus `extranonce2`, so the pool rebuilds exactly the header the device
///   hashed. A `mining.subscribe` is answered once the device's channel is open; a refused channel answers it with a
///   JSON-RPC error.
/// - Jobs: an upstream job becomes a `mining.notify` once it is active (Sv1 has no future jobs): on
///   `SetNewPrevHash` with `clean_jobs = true`, an immediate `NewExtendedMiningJob` with `false`. The line is
///   built once per channel and written to every device on it. Jobs sent to a group id go to every member channel.
/// - Shares: each device's shares are validated locally against its own difficulty (the difficulty its job id
///   was sent with). A valid share that meets its channel's upstream target becomes a `SubmitSharesExtended` on that
///   channel, and the device's answer waits for the pool's (acks mapped back by channel and sequence number); the
///   others are answered at once.
/// - Difficulty: per-device vardiff toward `sharesPerMinute`; a change is a `mining.set_difficulty` followed by a
///   re-notify of the running job under a new id.
/// - `SetExtranoncePrefix`: followed, from the channel's next job on (see ``upstreamExtranoncePrefix(_:)``).
///
/// Upstream loss answers every share still waiting (`upstream-unavailable`). Devices that sent
/// `mining.extranonce.subscribe` stay connected: their shares are answered `upstream-unavailable` until their next
/// upstream channel is open, then each gets its new extranonce with `mining.set_extranonce` (omitted when it did not
/// change) and the next job with `clean_jobs`. Other subscribed devices cannot be told a new extranonce: they get
/// `client.reconnect` and are closed (they come back when the upstream is up again). Devices still waiting for their
/// subscribe answer keep waiting. A device that leaves closes its own channel (`CloseChannel`). Loop thread only;
/// keep the translator alive while it runs (devices and the upstream handler refer to it weakly: released early,
/// their links close on their next input), `stop()` closes both sides.
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
    /// Whether the upstream connection is set up (channels can be requested on it).
    public private(set) var isUpstreamReady = false
    /// How the upstream counts in `SubmitShares.Success` (per message, or totals like SRI), as the channel
    /// acknowledged last read it.
    public private(set) var upstreamSemantics = SubmitSuccessSemantics()

    private let logger: Logger
    private var listener: Listener?
    private var devices: [UInt64: Sv1DeviceSession] = [:]
    private var channels: [UInt32: TranslatorChannel] = [:]
    /// The aggregated channel's id (aggregated mode), while open.
    private var sharedChannelID: UInt32?
    private var opens = TranslatorChannelOpens()
    /// Channels this translator closed (per-device mode): the upstream may still have messages for them in flight.
    private var recentlyClosed: Set<UInt32> = []
    private var recentlyClosedOrder: [UInt32] = []
    /// Forwarded shares waiting for the pool, over all channels (bounded by `maxInFlightShares`).
    private var inFlight = 0
    private var jobBook = TranslatorJobBook()
    private var vardiffTimer: TimerHandle?
    private var nextSubscriptionID: UInt64 = 1

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

    /// The aggregated upstream channel's jobs, tip, target and extranonce, once open (aggregated mode; `nil` per
    /// device: see ``upstreamChannels``).
    public var upstreamChannel: MinerJobTracker? { sharedChannelID.flatMap { channels[$0]?.tracker } }

    /// Every open upstream channel's state, by channel id.
    public var upstreamChannels: [UInt32: MinerJobTracker] { channels.mapValues(\.tracker) }

    /// The upstream channel of each mining device, by connection id.
    public var deviceChannels: [UInt64: UInt32] { devices.compactMapValues(\.channelID) }

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
        if let request = device.channelRequest { opens.abandon(request) }
        device.channelRequest = nil
        leaveChannel(device)
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
            findChannel(for: device)  // answered once the device's channel is open
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

    // MARK: Channel modes (the only places where the modes differ in control flow)

    /// Requests the channels of a freshly set-up upstream connection: the shared one, or one per device that waits
    /// for a channel (subscribe pending, or kept through an upstream loss).
    private func requestChannels() {
        switch configuration.channelMode {
        case .aggregated:
            let requestID = opens.add(.shared)
            openUpstreamChannel(
                requestID: requestID,
                minExtranonceSize: configuration.deviceIDLength + configuration.extranonce2Size)
        case .perDevice:
            for key in devices.keys.sorted() {
                guard let device = devices[key] else { continue }
                findChannel(for: device)
            }
        }
    }

    /// Puts a device that needs a channel on one: the shared channel if it is open, else (per device) a request for
    /// its own. Nothing happens while the upstream is not ready: ``requestChannels()`` comes back to it.
    private func findChannel(for device: Sv1DeviceSession) {
        guard device.channelID == nil, device.channelRequest == nil,
              device.subscribed || device.pendingSubscribe != nil else { return }
        switch configuration.channelMode {
        case .aggregated:
            if let id = sharedChannelID { join(device, id) }
        case .perDevice:
            guard isUpstreamReady else { return }
            // At most one request per device, plus those of devices that left before theirs was answered.
            guard opens.count < configuration.maxDevices else {
                logger.warning("\(opens.count) channel requests unanswered: not requesting more")
                return refuseChannel(device, code: "too-many-channel-requests")
            }
            let requestID = opens.add(.device(device.id))
            device.channelRequest = requestID
            openUpstreamChannel(requestID: requestID, minExtranonceSize: configuration.extranonce2Size)
        }
    }

    private func openUpstreamChannel(requestID: UInt32, minExtranonceSize: Int) {
        do {
            try upstream?.send(OpenExtendedMiningChannel(
                requestID: requestID, userIdentity: configuration.userIdentity,
                nominalHashRate: configuration.upstreamHashrate, maxTarget: U256(limbs: (.max, .max, .max, .max)),
                minExtranonceSize: UInt16(minExtranonceSize)))
        } catch {
            // The link is going down: `upstreamDidClose` forgets the request, the next connection asks again.
            logger.debug("channel request \(requestID) not sent: \(error)")
        }
    }

    /// The answered request's channel: its devices and how its extranonce space is split.
    private func channelOpened(
        _ tracker: MinerJobTracker, purpose: TranslatorChannelOpens.Purpose, groupID: UInt32?
    ) throws(Sv2ServiceError) {
        switch purpose {
        case .abandoned:
            sendCloseChannel(tracker.channelID, reason: "device-disconnected")
        case .shared:
            let space: TranslatorExtranonceSpace
            do {
                space = try .shared(
                    tracker, deviceIDLength: configuration.deviceIDLength, extranonce2Size: configuration.extranonce2Size)
            } catch {
                throw .rejected("\(error)")
            }
            add(TranslatorChannel(tracker: tracker, groupID: groupID, space: space))
            sharedChannelID = tracker.channelID
            statistics.upstreamChannelID = tracker.channelID
            logger.info("""
                upstream channel \(tracker.channelID) open: prefix \(tracker.extranoncePrefix), \
                \(tracker.extranonceSize) bytes; devices roll \(space.extranonce2Size)
                """)
            // Devices kept through an upstream loss first (in connection order: deterministic ids), then the
            // subscribes that waited.
            for key in devices.keys.sorted() {
                guard let device = devices[key], device.subscribed else { continue }
                findChannel(for: device)
            }
            for key in devices.keys.sorted() {
                guard let device = devices[key], device.pendingSubscribe != nil else { continue }
                findChannel(for: device)
            }
        case .device(let deviceID):
            guard let device = devices[deviceID] else {
                return sendCloseChannel(tracker.channelID, reason: "device-disconnected")
            }
            device.channelRequest = nil
            let space: TranslatorExtranonceSpace
            do { space = try .whole(tracker, extranonce2Size: configuration.extranonce2Size) } catch {
                logger.error("channel \(tracker.channelID) for device \(device.connection.remoteAddress): \(error)")
                sendCloseChannel(tracker.channelID, reason: "extranonce-size-too-small")
                return refuseChannel(device, code: "extranonce-size-too-small")
            }
            add(TranslatorChannel(tracker: tracker, groupID: groupID, space: space))
            logger.debug("upstream channel \(tracker.channelID) open for device \(device.connection.remoteAddress)")
            join(device, tracker.channelID)
        }
    }

    /// A device leaves its channel (closed, sent away): its extranonce is given back, and a channel of its own is
    /// closed upstream.
    private func leaveChannel(_ device: Sv1DeviceSession) {
        guard let id = device.channelID else { return }
        device.channelID = nil
        let allocated = device.allocatedPrefix
        device.allocatedPrefix = nil
        guard channels[id] != nil else { return }
        channels[id]!.members.remove(device.id)
        channels[id]!.space.release(allocated)
        if id != sharedChannelID { closeChannel(id, reason: "device-disconnected") }
    }

    // MARK: Joining channels (both modes)

    private func add(_ channel: TranslatorChannel) {
        channels[channel.id] = channel
        statistics.upstreamChannels = channels.count
        statistics.channelsOpened += 1
    }

    /// Closes channel `id` upstream and forgets it; shares still waiting on it are answered `upstream-unavailable`.
    private func closeChannel(_ id: UInt32, reason: String) {
        guard var channel = channels.removeValue(forKey: id) else { return }
        channel.acks.drain { entry in answerLost(entry) }
        statistics.upstreamChannels = channels.count
        sendCloseChannel(id, reason: reason)
    }

    private func sendCloseChannel(_ id: UInt32, reason: String) {
        statistics.channelsClosed += 1
        recentlyClosed.insert(id)
        recentlyClosedOrder.append(id)
        if recentlyClosedOrder.count > Self.recentlyClosedMemory {
            recentlyClosed.remove(recentlyClosedOrder.removeFirst())
        }
        do { try upstream?.send(CloseChannel(channelID: id, reasonCode: reason)) } catch {
            logger.debug("CloseChannel \(id) not sent: \(error)")
        }
    }

    /// Closed channel ids remembered (messages for them are ignored rather than treated as a protocol error).
    static let recentlyClosedMemory = 4096

    /// Puts `device` on channel `id`: a pending subscribe is answered, a device already subscribed (kept through an
    /// upstream loss, or moved by a prefix change) is re-homed.
    private func join(_ device: Sv1DeviceSession, _ id: UInt32, notify: Bool = true) {
        if device.subscribed {
            rehome(device, on: id, notify: notify)
        } else {
            answerSubscribe(device, on: id)
        }
    }

    /// Answers a pending subscribe: the device's extranonce on channel `id`, its vardiff, difficulty and job.
    private func answerSubscribe(_ device: Sv1DeviceSession, on id: UInt32) {
        guard let requestID = device.pendingSubscribe else { return }
        device.pendingSubscribe = nil
        guard assign(device, to: id) else {
            device.send(Sv1Line.error(id: requestID, code: .other, message: "extranonce space exhausted"))
            return
        }
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
        if case let (job, tip)? = activeWork(id) { notify(device, job: job, tip: tip, clean: true) }
    }

    /// Gives `device` its extranonce on channel `id` and empties its validator (jobs of another extranonce are
    /// void); false when the channel's space is exhausted.
    private func assign(_ device: Sv1DeviceSession, to id: UInt32) -> Bool {
        guard let assignment = channels[id]?.space.assign() else { return false }
        channels[id]!.members.insert(device.id)
        device.channelID = id
        device.allocatedPrefix = assignment.allocated
        device.extranonce1 = assignment.extranonce1
        device.upstreamExtranoncePrefix = assignment.upstreamPrefix
        device.extranonce2Size = assignment.extranonce2Size
        device.resetValidator(duplicateFilterCapacity: configuration.duplicateFilterCapacity)
        return true
    }

    /// A subscribed device on a new channel (after an upstream loss) or a new prefix: a new extranonce, pushed with
    /// `mining.set_extranonce` when it differs from the old one, then (with `notify`) the running job as a clean one.
    /// A device that cannot take `mining.set_extranonce` is sent away instead.
    private func rehome(_ device: Sv1DeviceSession, on id: UInt32, notify: Bool) {
        guard device.extranonceSubscribed else { return sendAway(device) }
        let old = (device.extranonce1, device.extranonce2Size)
        guard assign(device, to: id) else {
            logger.error("device \(device.connection.remoteAddress): no extranonce left on upstream channel \(id)")
            return sendAway(device)
        }
        if old != (device.extranonce1, device.extranonce2Size) {
            statistics.extranonceUpdates += 1
            device.send(Sv1Line.setExtranonce(device.extranonce1.bytes, extranonce2Size: device.extranonce2Size))
        }
        if notify, case let (job, tip)? = activeWork(id) { self.notify(device, job: job, tip: tip, clean: true) }
    }

    /// `client.reconnect` and close: the device comes back and subscribes afresh (its channel, if its own, closes).
    private func sendAway(_ device: Sv1DeviceSession) {
        device.send(Sv1Line.reconnect())
        device.connection.close()
    }

    /// No channel for `device`: a waiting subscribe gets the error, a device kept without one is sent away.
    private func refuseChannel(_ device: Sv1DeviceSession, code: String) {
        if let id = device.pendingSubscribe {
            device.pendingSubscribe = nil
            device.send(Sv1Line.error(id: id, code: .other, message: "upstream refused the channel: \(code)"))
        } else if device.subscribed {
            sendAway(device)
        }
    }

    // MARK: Jobs and difficulty

    /// The active job and chain tip of channel `id`, once both exist.
    private func activeWork(_ id: UInt32) -> (MinerJob, MinerJobTracker.ChainTip)? {
        guard let tracker = channels[id]?.tracker, let job = tracker.activeJob, let tip = tracker.chainTip else {
            return nil
        }
        return (job, tip)
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

    /// Sends channel `channelID`'s active job to every mining device on it (the line is built once).
    private func broadcastActiveJob(_ channelID: UInt32, clean: Bool) {
        guard let members = channels[channelID]?.members, case let (job, tip)? = activeWork(channelID) else { return }
        let id = jobBook.add(upstreamJobID: job.jobID, version: job.version)
        guard let notify = Self.notify(job, id: id, tip: tip, clean: clean) else { return }
        statistics.jobsNotified += 1
        var line = Sv1Line.notify(notify)
        line.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            for member in members {
                guard let device = devices[member], device.isMining else { continue }
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
        if let channelID = device.channelID, case let (job, tip)? = activeWork(channelID) {
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
        // A device kept through an upstream loss has no valid job until its next channel is open: its shares could
        // be neither forwarded nor credited, so they are answered, not held.
        guard let channelID = device.channelID, let workTarget = channels[channelID]?.tracker.workTarget else {
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
        if device.validator.needsFreshJob, case let (job, tip)? = activeWork(channelID) {
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
        guard isBlock || workTarget.isMet(by: hash) else { return device.send(Sv1Line.result(id: id, "true")) }
        guard let upstream, inFlight < configuration.maxInFlightShares,
              let sequence = channels[channelID]?.acks.nextSequence
        else {
            return reject(device, id, .other, Self.upstreamUnavailable, code: Self.upstreamUnavailable)
        }
        do {
            try upstream.send(SubmitSharesExtended(
                channelID: channelID, sequenceNumber: sequence, jobID: entry.upstreamJobID, nonce: submit.nonce,
                ntime: submit.ntime, version: version, extranonce: device.upstreamExtranoncePrefix + submit.extranonce2))
        } catch {
            logger.debug("share not forwarded: \(error)")
            return reject(device, id, .other, Self.upstreamUnavailable, code: Self.upstreamUnavailable)
        }
        channels[channelID]!.acks.record(device: device.id, requestID: id)
        inFlight += 1
        statistics.sharesForwarded += 1
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

    /// A forwarded share whose answer can never come (link or channel gone).
    private func answerLost(_ entry: TranslatorShareAcks.Entry) {
        inFlight -= 1
        statistics.upstreamLost += 1
        devices[entry.device]?.send(Sv1Line.error(id: entry.requestID, code: .other, message: Self.upstreamUnavailable))
    }

    // MARK: Upstream (called by TranslatorUpstreamHandler)

    func upstreamDidSetUp() {
        isUpstreamReady = true
        requestChannels()
    }

    func upstreamChannelOpened(
        _ tracker: MinerJobTracker, requestID: UInt32, groupChannelID: UInt32
    ) throws(Sv2ServiceError) {
        guard let purpose = opens.take(requestID) else {
            throw .rejected("OpenExtendedMiningChannel.Success for request \(requestID), which was never sent")
        }
        guard channels[tracker.channelID] == nil else {
            throw .rejected("the upstream opened channel \(tracker.channelID) twice")
        }
        recentlyClosed.remove(tracker.channelID)  // an id reused after our CloseChannel is live again
        try channelOpened(tracker, purpose: purpose, groupID: groupChannelID == 0 ? nil : groupChannelID)
    }

    func upstreamChannelRefused(requestID: UInt32, code: String) {
        guard let purpose = opens.take(requestID) else { return }
        switch purpose {
        case .abandoned:
            break
        case .shared:
            logger.error("upstream refused the channel: \(code)")
            for device in devices.values where device.pendingSubscribe != nil { refuseChannel(device, code: code) }
        case .device(let id):
            logger.warning("upstream refused a device's channel: \(code)")
            guard let device = devices[id] else { return }
            device.channelRequest = nil
            refuseChannel(device, code: code)
        }
    }

    /// The channels a message addressed to `id` applies to: that channel, or every member of that group. Empty for
    /// a channel this translator closed recently (the upstream's messages for it may still be on the way).
    private func route(_ id: UInt32) throws(Sv2ServiceError) -> [UInt32] {
        if channels[id] != nil { return [id] }
        let members = channels.values.filter { $0.groupID == id }.map(\.id)
        guard !members.isEmpty || recentlyClosed.contains(id) else { throw .unknownChannel(id) }
        return members.sorted()
    }

    func upstreamJob(_ message: NewExtendedMiningJobView) throws(Sv2ServiceError) {
        let job = MinerJob(message)
        for id in try route(message.channelID) {
            let reprefixed = try applyPendingPrefix(id)
            guard channels[id] != nil else { continue }
            try updateUpstream(id) { (tracker) throws(MinerJobError) in _ = try tracker.receive(job) }
            if !job.isFuture { broadcastActiveJob(id, clean: reprefixed) }
        }
    }

    func upstreamPrevHash(_ message: SetNewPrevHashView) throws(Sv2ServiceError) {
        for id in try route(message.channelID) {
            try updateUpstream(id) { (tracker) throws(MinerJobError) in _ = try tracker.receive(message) }
            broadcastActiveJob(id, clean: true)
        }
    }

    func upstreamTarget(_ message: SetTargetView) throws(Sv2ServiceError) {
        let limbs = message.maximumTarget.limbs
        let target = Target(UInt256(w0: limbs.0, w1: limbs.1, w2: limbs.2, w3: limbs.3))
        for id in try route(message.channelID) {
            try updateUpstream(id) { (tracker) throws(MinerJobError) in _ = tracker.setTarget(target) }
        }
    }

    /// `SetGroupChannel`: jobs sent to the group id go to its member channels from now on.
    func upstreamGroup(_ message: SetGroupChannelView) {
        for id in message.channelIDs { channels[id]?.groupID = message.groupChannelID }
    }

    /// `SetExtranoncePrefix`: the new prefix is recorded, not applied. The spec makes it apply to jobs sent after
    /// the message, so until the channel's next job arrives the devices keep mining (and their shares are validated
    /// and forwarded) on the old prefix; that job then re-homes every device on the channel (``applyPendingPrefix``).
    func upstreamExtranoncePrefix(_ message: SetExtranoncePrefixView) throws(Sv2ServiceError) {
        guard let channel = channels[message.channelID] else {
            guard recentlyClosed.contains(message.channelID) else { throw .unknownChannel(message.channelID) }
            return
        }
        guard let prefix = Extranonce(copying: message.extranoncePrefix),
              prefix.count + channel.tracker.extranonceSize <= Extranonce.maxLength
        else {
            throw .rejected("""
                SetExtranoncePrefix: \(message.extranoncePrefix.count)-byte prefix and \
                \(channel.tracker.extranonceSize) rollable bytes exceed \(Extranonce.maxLength)
                """)
        }
        channels[message.channelID]!.pendingPrefix = prefix
        logger.info("upstream channel \(message.channelID): new extranonce prefix \(prefix) from its next job on")
    }

    /// Applies channel `id`'s pending prefix, if any (its next job just arrived): the extranonce space is rebuilt
    /// under it and every device on the channel moves there — `mining.set_extranonce` for devices that take it, the
    /// job itself follows as a clean one; `client.reconnect` for the others. True when it did.
    private func applyPendingPrefix(_ id: UInt32) throws(Sv2ServiceError) -> Bool {
        guard var channel = channels[id], let prefix = channel.pendingPrefix else { return false }
        channel.pendingPrefix = nil
        do {
            try channel.tracker.setExtranoncePrefix(prefix)
            channel.space = try channel.space.rebuilt(for: channel.tracker)
        } catch {
            throw .rejected("SetExtranoncePrefix on channel \(id): \(error)")
        }
        let members = channel.members.sorted()
        channels[id] = channel
        statistics.extranoncePrefixChanges += 1
        logger.info("upstream channel \(id): extranonce prefix now \(prefix); moving \(members.count) devices")
        for key in members {
            guard let device = devices[key] else { continue }
            // The old extranonce belongs to the old space: nothing to give back to the new one.
            device.allocatedPrefix = nil
            guard device.extranonceSubscribed else {
                sendAway(device)  // leaves its channel when the connection closes (its own is then closed)
                continue
            }
            channels[id]!.members.remove(key)
            device.channelID = nil
            rehome(device, on: id, notify: false)
        }
        return true
    }

    func upstreamAccepted(channelID: UInt32, lastSequenceNumber: UInt32, count: UInt32, sum: UInt64) {
        guard channels[channelID] != nil else { return }  // a channel closed meanwhile: its shares were answered
        // Count from last_sequence_number progress: pools differ on whether new_submits_accepted_count is per
        // message or cumulative (SRI), but "everything up to here not rejected was accepted" holds for both.
        let acknowledged = channels[channelID]!.acks.acknowledge(upTo: lastSequenceNumber) { entry in
            inFlight -= 1
            statistics.upstreamAccepted += 1
            if let device = devices[entry.device] {
                device.upstreamAccepted += 1
                device.send(Sv1Line.result(id: entry.requestID, "true"))
            }
        }
        let wasCumulative = channels[channelID]!.semantics.isCumulative
        let delta = channels[channelID]!.semantics.interpret(count: count, sum: sum, acknowledged: acknowledged)
        upstreamSemantics = channels[channelID]!.semantics
        if !wasCumulative, upstreamSemantics.isCumulative {
            logger.notice("upstream reports SubmitShares.Success counts as totals (SRI); counting from sequence numbers")
        }
        if !delta.countAgreed {
            statistics.upstreamInconsistentAcks += 1
            logger.debug("upstream acknowledged \(acknowledged) shares, its count says otherwise (\(count))")
        }
    }

    func upstreamRejected(channelID: UInt32, sequenceNumber: UInt32, code: String) {
        guard channels[channelID] != nil, let entry = channels[channelID]!.acks.reject(sequenceNumber) else { return }
        inFlight -= 1
        statistics.upstreamRejected += 1
        logger.notice("pool rejected share \(sequenceNumber) on channel \(channelID): \(code)")
        guard let device = devices[entry.device] else { return }
        device.upstreamRejected += 1
        let sv1Code: Sv1ErrorCode = switch code {
        case ShareRejection.staleShare.code, ShareRejection.invalidJobID.code: .jobNotFound
        case ShareRejection.duplicateShare.code: .duplicateShare
        case ShareRejection.difficultyTooLow.code: .lowDifficulty
        default: .other
        }
        device.send(Sv1Line.error(id: entry.requestID, code: sv1Code, message: code))
    }

    func upstreamDidClose() {
        isUpstreamReady = false
        opens.removeAll()
        for id in channels.keys.sorted() {
            channels[id]!.acks.drain { entry in answerLost(entry) }
        }
        inFlight = 0
        channels.removeAll()
        sharedChannelID = nil
        recentlyClosed.removeAll()
        recentlyClosedOrder.removeAll()
        statistics.upstreamChannelID = nil
        statistics.upstreamChannels = 0
        var kept = 0, sentAway = 0
        for device in Array(devices.values) {
            device.channelRequest = nil
            device.channelID = nil
            device.allocatedPrefix = nil
            guard device.subscribed else { continue }  // a subscribe still waiting keeps waiting
            if device.extranonceSubscribed {
                // Kept: no job is valid any more (the next channel has another extranonce space).
                device.resetValidator(duplicateFilterCapacity: configuration.duplicateFilterCapacity)
                kept += 1
            } else {
                sendAway(device)
                sentAway += 1
            }
        }
        statistics.devicesKeptOnUpstreamLoss += UInt64(kept)
        logger.warning(
            "upstream connection closed; waiting shares answered, \(kept) devices kept (extranonce.subscribe), \(sentAway) asked to reconnect")
    }

    private func updateUpstream(
        _ id: UInt32, _ body: (inout MinerJobTracker) throws(MinerJobError) -> Void
    ) throws(Sv2ServiceError) {
        guard channels[id] != nil else { return }
        do { try body(&channels[id]!.tracker) } catch { throw .rejected("\(error)") }
    }
}
