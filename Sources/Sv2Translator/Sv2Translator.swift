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

/// A Stratum V1 → V2 translator: an Sv1 server for devices and an Sv2 client to the pool, on one loop, with one
/// upstream connection carrying one extended channel (``TranslatorChannelMode/aggregated``) or one per device
/// (``TranslatorChannelMode/perDevice``).
///
/// - Channels: each upstream channel is a `TranslatorChannel` with the devices mining on it; jobs, shares and
///   acknowledgements work on channels the same way in both modes. The modes differ only in when channels are
///   requested (the shared one when the connection is set up; a device's own when it subscribes, or after an upstream
///   loss for a device that was kept) and in how a channel's extranonce space is split
///   (`TranslatorExtranonceSpace`).
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
/// - `SetExtranoncePrefix`: followed from the channel's next job on; the devices move when that job becomes active,
///   mining the running job on its old prefix until then (see `upstreamExtranoncePrefix(_:)`).
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
    public internal(set) var statistics = TranslatorStatistics()
    /// The upstream client (nil until `start`).
    public internal(set) var upstream: TranslatorUpstreamClient?
    /// The failover driving the upstream link, when `upstreamEndpoints` is set.
    public internal(set) var failover: Sv2Failover?
    /// Whether the upstream connection is set up (channels can be requested on it).
    public internal(set) var isUpstreamReady = false
    /// How the upstream counts in `SubmitShares.Success` (per message, or totals like SRI), as the channel
    /// acknowledged last read it.
    public internal(set) var upstreamSemantics = SubmitSuccessSemantics()

    let logger: Logger
    var listener: Listener?
    var devices: [UInt64: Sv1DeviceSession] = [:]
    var channels: [UInt32: TranslatorChannel] = [:]
    /// The aggregated channel's id (aggregated mode), while open.
    var sharedChannelID: UInt32?
    var opens = TranslatorChannelOpens()
    /// Channels this translator closed (per-device mode): the upstream may still have messages for them in flight.
    var recentlyClosed: Set<UInt32> = []
    var recentlyClosedOrder: [UInt32] = []
    /// Forwarded shares waiting for the pool, over all channels (bounded by `maxInFlightShares`).
    var inFlight = 0
    var jobBook = TranslatorJobBook()
    var vardiffTimer: TimerHandle?
    var nextSubscriptionID: UInt64 = 1

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

    func accept(_ connection: Connection) -> (any ConnectionHandler)? {
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
}
