import Sv1
import Sv2Mining
import Sv2Bitcoin

/// Upstream jobs as `mining.notify`, per channel, and per-device difficulty.
extension Sv2Translator {
    // MARK: Jobs and difficulty

    /// The active job and chain tip of channel `id`, once both exist.
    func activeWork(_ id: UInt32) -> (MinerJob, MinerJobTracker.ChainTip)? {
        guard let tracker = channels[id]?.tracker, let job = tracker.activeJob, let tip = tracker.chainTip else {
            return nil
        }
        return (job, tip)
    }

    /// Sends `job` to one device under a fresh Sv1 id (joining, retarget).
    /// On a device whose duplicate filter rolled over, the job's `ntime` starts above everything accepted before.
    func notify(_ device: Sv1DeviceSession, job: MinerJob, tip: MinerJobTracker.ChainTip, clean: Bool) {
        let id = jobBook.add(upstreamJobID: job.jobID, version: job.version)
        let floor = clean ? 0 : device.validator.ntimeFloor
        guard let notify = Self.notify(job, id: id, tip: tip, clean: clean, ntimeFloor: floor) else { return }
        activate(device, job: job, id: id, tip: tip, clean: clean, ntimeFloor: floor)
        device.send(Sv1Line.notify(notify))
    }

    /// Makes `job` (Sv1 id `id`) valid for `device` at its current target.
    func activate(
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
    func broadcastActiveJob(_ channelID: UInt32, clean: Bool) {
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

    func retarget(_ device: Sv1DeviceSession, to requested: Target) {
        guard var vardiff = device.vardiff else { return }
        vardiff.reset(target: requested, now: seconds())
        device.vardiff = vardiff
        applyTarget(device, vardiff.target)
    }

    func applyTarget(_ device: Sv1DeviceSession, _ target: Target) {
        guard target != device.target else { return }
        device.target = target
        statistics.retargets += 1
        device.send(Sv1Line.setDifficulty(target.difficulty))
        if let channelID = device.channelID, case let (job, tip)? = activeWork(channelID) {
            notify(device, job: job, tip: tip, clean: false)
        }
    }

    func scheduleVardiff() {
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

    func seconds() -> Double { Double(eventLoop.now) / 1e9 }
}
