import Sv1
import Sv2Codec
import Sv2Mining
import Sv2Service
import Sv2Bitcoin

/// What the upstream connection reports (called by ``TranslatorUpstreamHandler``).
extension Sv2Translator {
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
    func route(_ id: UInt32) throws(Sv2ServiceError) -> [UInt32] {
        if channels[id] != nil { return [id] }
        let members = channels.values.filter { $0.groupID == id }.map(\.id)
        guard !members.isEmpty || recentlyClosed.contains(id) else { throw .unknownChannel(id) }
        return members.sorted()
    }

    func upstreamJob(_ message: NewExtendedMiningJobView) throws(Sv2ServiceError) {
        let job = MinerJob(message)
        for id in try route(message.channelID) {
            try applyPendingPrefix(id)
            guard channels[id] != nil else { continue }
            try updateUpstream(id) { (tracker) throws(MinerJobError) in _ = try tracker.receive(job) }
            // A future job waits: the devices mine the running job (under its prefix) until its SetNewPrevHash.
            if !job.isFuture { broadcastActiveJob(id, clean: try moveDevices(id)) }
        }
    }

    func upstreamPrevHash(_ message: SetNewPrevHashView) throws(Sv2ServiceError) {
        for id in try route(message.channelID) {
            try updateUpstream(id) { (tracker) throws(MinerJobError) in _ = try tracker.receive(message) }
            try moveDevices(id)
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
    /// the message, so the devices keep mining (and their shares are validated and forwarded) on the old prefix
    /// until a job sent after it becomes active: a job active at once, or a future one at its `SetNewPrevHash`
    /// (``applyPendingPrefix`` marks the jobs, ``moveDevices`` re-homes every device on the channel).
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

    /// Applies channel `id`'s pending prefix, if any, to its job state (its next job just arrived): that job and
    /// the later ones are under it; the running job keeps its own, and so do the devices, until ``moveDevices``.
    func applyPendingPrefix(_ id: UInt32) throws(Sv2ServiceError) {
        guard let prefix = channels[id]?.pendingPrefix else { return }
        channels[id]!.pendingPrefix = nil
        try updateUpstream(id) { (tracker) throws(MinerJobError) in _ = try tracker.setExtranoncePrefix(prefix) }
    }

    /// Channel `id`'s active job is under another prefix than its devices' (a job sent after a
    /// `SetExtranoncePrefix` became active): the extranonce space is rebuilt under the job's prefix and every device
    /// on the channel moves there — `mining.set_extranonce` for devices that take it, the job itself follows as a
    /// clean one; `client.reconnect` for the others. True when it did.
    @discardableResult
    func moveDevices(_ id: UInt32) throws(Sv2ServiceError) -> Bool {
        guard var channel = channels[id], channel.devicesBehindActivePrefix else { return false }
        do {
            channel.space = try channel.space.rebuilt(for: channel.tracker)
        } catch {
            throw .rejected("SetExtranoncePrefix on channel \(id): \(error)")
        }
        let members = channel.members.sorted()
        channels[id] = channel
        statistics.extranoncePrefixChanges += 1
        logger.info("upstream channel \(id): extranonce prefix now \(channel.tracker.activeExtranoncePrefix); moving \(members.count) devices")
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

    func updateUpstream(
        _ id: UInt32, _ body: (inout MinerJobTracker) throws(MinerJobError) -> Void
    ) throws(Sv2ServiceError) {
        guard channels[id] != nil else { return }
        do { try body(&channels[id]!.tracker) } catch { throw .rejected("\(error)") }
    }
}
