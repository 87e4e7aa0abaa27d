import Sv1
import Sv2Codec
import Sv2Mining
import Sv2Bitcoin

/// Device shares: local validation, forwarding on the device's channel.
extension Sv2Translator {
    // MARK: Shares

    func submit(_ submit: Sv1Submit, id: Sv1ID, from device: Sv1DeviceSession) {
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

    func reject(
        _ device: Sv1DeviceSession, _ id: Sv1ID, _ code: Sv1ErrorCode, _ message: String, code statisticsCode: String? = nil
    ) {
        device.sharesRejected += 1
        statistics.rejections[statisticsCode ?? "\(code)", default: 0] += 1
        device.send(Sv1Line.error(id: id, code: code, message: message))
    }

    /// A forwarded share whose answer can never come (link or channel gone).
    func answerLost(_ entry: TranslatorShareAcks.Entry) {
        inFlight -= 1
        statistics.upstreamLost += 1
        devices[entry.device]?.send(Sv1Line.error(id: entry.requestID, code: .other, message: Self.upstreamUnavailable))
    }
}
