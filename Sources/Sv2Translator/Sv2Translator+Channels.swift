import Sv1
import Sv2Codec
import Sv2Mining
import Sv2Service
import Sv2Bitcoin

/// How devices get upstream channels: the mode-specific requests, then joining, re-homing and leaving (shared by
/// both modes).
extension Sv2Translator {
    // MARK: Channel modes (the only places where the modes differ in control flow)

    /// Requests the channels of a freshly set-up upstream connection: the shared one, or one per device that waits
    /// for a channel (subscribe pending, or kept through an upstream loss).
    func requestChannels() {
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
    func findChannel(for device: Sv1DeviceSession) {
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

    func openUpstreamChannel(requestID: UInt32, minExtranonceSize: Int) {
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
    func channelOpened(
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
    func leaveChannel(_ device: Sv1DeviceSession) {
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

    func add(_ channel: TranslatorChannel) {
        channels[channel.id] = channel
        statistics.upstreamChannels = channels.count
        statistics.channelsOpened += 1
    }

    /// Closes channel `id` upstream and forgets it; shares still waiting on it are answered `upstream-unavailable`.
    func closeChannel(_ id: UInt32, reason: String) {
        guard var channel = channels.removeValue(forKey: id) else { return }
        channel.acks.drain { entry in answerLost(entry) }
        statistics.upstreamChannels = channels.count
        sendCloseChannel(id, reason: reason)
    }

    func sendCloseChannel(_ id: UInt32, reason: String) {
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
    func join(_ device: Sv1DeviceSession, _ id: UInt32, notify: Bool = true) {
        if device.subscribed {
            rehome(device, on: id, notify: notify)
        } else {
            answerSubscribe(device, on: id)
        }
    }

    /// Answers a pending subscribe: the device's extranonce on channel `id`, its vardiff, difficulty and job.
    func answerSubscribe(_ device: Sv1DeviceSession, on id: UInt32) {
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
    func assign(_ device: Sv1DeviceSession, to id: UInt32) -> Bool {
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
    func rehome(_ device: Sv1DeviceSession, on id: UInt32, notify: Bool) {
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
    func sendAway(_ device: Sv1DeviceSession) {
        device.send(Sv1Line.reconnect())
        device.connection.close()
    }

    /// No channel for `device`: a waiting subscribe gets the error, a device kept without one is sent away.
    func refuseChannel(_ device: Sv1DeviceSession, code: String) {
        if let id = device.pendingSubscribe {
            device.pendingSubscribe = nil
            device.send(Sv1Line.error(id: id, code: .other, message: "upstream refused the channel: \(code)"))
        } else if device.subscribed {
            sendAway(device)
        }
    }
}
