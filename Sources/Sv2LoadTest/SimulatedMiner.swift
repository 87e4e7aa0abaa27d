import Sv2Codec
import Sv2Bitcoin
import Sv2Mining
import Sv2Service

/// One simulated miner: opens a standard or extended channel asking for the easiest target, follows the jobs,
/// chain tips and targets with Sv2Mining's `MinerJobTracker`, and builds shares whose header really meets the
/// channel target (so the pool does real validation work). On extended channels every share rolls a fresh
/// extranonce of the granted size, so the pool rebuilds the coinbase and merkle root per share. Acknowledgements
/// are matched to send times for the latency histogram.
struct SimulatedMiner: Sv2MiningClientHandler {
    unowned(unsafe) let worker: LoadTestWorker
    /// The miner's slot in its worker.
    let slot: Int
    private var tracker: MinerJobTracker?
    private var nonce: UInt32 = 0
    private var ntime: UInt32 = 0
    /// Counter written into the rolled extranonce (little-endian, truncated to the granted size).
    private var extranonceCounter: UInt64 = 0
    /// The rolled extranonce of the last share, reused in place: the message holding it is encoded and dropped
    /// before the next share, so the buffer stays uniquely referenced and no share allocates.
    private var rolled: [UInt8] = []
    private var clock = ShareClock()
    /// How this channel's SubmitShares.Success counts (spec deltas or SRI's cumulative totals).
    private(set) var semantics = SubmitSuccessSemantics()
    /// When the miner could first submit (rate mode paces from here).
    private(set) var miningSince: UInt64 = 0
    /// Shares submitted so far.
    private(set) var sharesSent = 0

    init(worker: LoadTestWorker, slot: Int) {
        self.worker = worker
        self.slot = slot
    }

    /// Whether a share can be built (channel open, job and chain tip known).
    var canSubmit: Bool { tracker?.work != nil }

    /// Shares awaiting an acknowledgement.
    var outstanding: Int { clock.outstanding }

    /// The sequence number the next share will get.
    var nextSequence: UInt32 { clock.next }

    /// Moves the send time of the shares from `first` on to `now`: a rate-mode burst is encoded share by share and
    /// written when the loop flushes after the whole burst, so its shares are stamped once it is encoded.
    mutating func restampShares(from first: UInt32, at now: UInt64) { clock.restamp(from: first, at: now) }

    // MARK: Shares

    /// Builds the next valid share and records its send time; nil when no job is active. Standard channels get a
    /// `SubmitSharesStandard`, extended ones a `SubmitSharesExtended`.
    mutating func nextShare(now: UInt64) -> LoadTestShare? {
        // Read through the optional instead of binding `tracker`: a copy of it would retain every job it holds.
        guard let work = tracker?.work, let channelID = tracker?.channelID else { return nil }
        let isStandard = tracker?.kind == .standard
        let extranonce = nextExtranonce(size: tracker?.extranonceSize ?? 0)
        var header = BlockHeader(
            version: work.version, prevHash: work.prevHash, merkleRoot: work.merkleRoot(extranonce: extranonce),
            ntime: Swift.max(ntime, work.minNtime), nbits: work.nbits, nonce: nonce)
        // Search like a miner would; with the easy target the load test asks for, the first nonce qualifies.
        var attempts = 0
        while !work.target.isMet(by: header.hash) {
            header.nonce &+= 1
            attempts += 1
            // Roll ntime once the nonce space wraps, so shares stay distinct (duplicates would be rejected).
            if header.nonce == 0 { header.ntime &+= 1 }
            if attempts == 1 << 16 { break }  // a hard target: submit anyway, the pool will reject it
        }
        nonce = header.nonce &+ 1
        ntime = header.ntime
        if nonce == 0 { ntime &+= 1 }
        sharesSent += 1
        worker.counters.sharesSent += 1
        let sequence = clock.send(at: LatencyClock.now())
        if isStandard {
            return .standard(SubmitSharesStandard(
                channelID: channelID, sequenceNumber: sequence, jobID: work.jobID, nonce: header.nonce,
                ntime: header.ntime, version: header.version))
        }
        return .extended(SubmitSharesExtended(
            channelID: channelID, sequenceNumber: sequence, jobID: work.jobID, nonce: header.nonce,
            ntime: header.ntime, version: header.version, extranonce: rolled))
    }

    /// The next rolled extranonce (also left in ``rolled``): a per-miner counter, little-endian, in `size` bytes
    /// (zero-padded past 8, truncated below).
    private mutating func nextExtranonce(size: Int) -> Extranonce {
        guard size > 0 else { return .empty }
        if rolled.count != size { rolled = [UInt8](repeating: 0, count: size) }
        extranonceCounter &+= 1
        let counter = extranonceCounter
        rolled.withUnsafeMutableBytes { buffer in
            Swift.withUnsafeBytes(of: counter.littleEndian) { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(Swift.min(8, size))))
            }
        }
        return rolled.withUnsafeBytes { Extranonce(copying: $0)! }
    }

    /// Submits up to `count` shares through `context`.
    private mutating func submit(_ count: Int, context: Sv2ClientContext) throws(Sv2ServiceError) {
        for _ in 0..<count {
            guard worker.isSubmitting, let share = nextShare(now: worker.loop.now) else { return }
            switch share {
            case .standard(let message): try context.send(message)
            case .extended(let message): try context.send(message)
            }
        }
    }

    private mutating func startMiningIfReady(context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard canSubmit, miningSince == 0 else { return }
        miningSince = worker.loop.now
        if worker.configuration.sharesPerSecond == 0 && !worker.configuration.idle {
            try submit(worker.configuration.sharesInFlight, context: context)
        }
    }

    // MARK: Handler

    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        worker.didSetUp(slot: slot)
        let configuration = worker.configuration
        guard !configuration.handshakeOnly else { return }
        let requestID = UInt32(truncatingIfNeeded: slot)
        let user = "\(configuration.userIdentity).\(slot)"
        switch configuration.channelKind {
        case .standard:
            try context.send(OpenStandardMiningChannel(
                requestID: requestID, userIdentity: user, nominalHashRate: configuration.nominalHashRate,
                maxTarget: .max))
        case .extended:
            try context.send(OpenExtendedMiningChannel(
                requestID: requestID, userIdentity: user, nominalHashRate: configuration.nominalHashRate,
                maxTarget: .max, minExtranonceSize: UInt16(configuration.minimumExtranonceSize)))
        }
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        worker.counters.sharesLostOnClose += clock.outstanding
    }

    /// Counts an upstream message the tracker refused (unknown job, wrong job kind, oversized extranonce).
    private func count(_ error: MinerJobError) {
        worker.counters.jobErrors += 1
    }

    /// Starts a fresh nonce range after the work changed (new job or chain tip).
    private mutating func workChanged(_ changed: Bool, context: Sv2ClientContext) throws(Sv2ServiceError) {
        if changed {
            nonce = 0
            ntime = 0
        }
        try startMiningIfReady(context: context)
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        do throws(MinerJobError) { tracker = try MinerJobTracker(message) } catch { return count(error) }
        worker.counters.channelsOpened += 1
    }

    mutating func handle(_ message: OpenExtendedMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        do throws(MinerJobError) { tracker = try MinerJobTracker(message) } catch { return count(error) }
        worker.counters.channelsOpened += 1
    }

    mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        worker.counters.channelOpenFailures += 1
    }

    mutating func handle(_ message: NewMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let changed: Bool
        do throws(MinerJobError) { changed = try tracker?.receive(message) ?? false } catch { return count(error) }
        try workChanged(changed, context: context)
    }

    mutating func handle(_ message: NewExtendedMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let changed: Bool
        do throws(MinerJobError) { changed = try tracker?.receive(message) ?? false } catch { return count(error) }
        try workChanged(changed, context: context)
    }

    mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let changed: Bool
        do throws(MinerJobError) { changed = try tracker?.receive(message) ?? false } catch { return count(error) }
        try workChanged(changed, context: context)
    }

    mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        tracker?.setTarget(Target(message.maximumTarget))
    }

    mutating func handle(_ message: SetExtranoncePrefixView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard let prefix = Extranonce(copying: message.extranoncePrefix) else { return count(.extranonceTooLong(
            prefix: message.extranoncePrefix.count, rollable: tracker?.extranonceSize ?? 0)) }
        do throws(MinerJobError) { _ = try tracker?.setExtranoncePrefix(prefix) } catch { return count(error) }
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let worker = self.worker
        // Accepted shares are the outstanding ones last_sequence_number covers (rejected ones left the clock
        // already). The message's own count is only cross-checked: SRI's pool sends totals since the channel
        // opened where the spec says "since the last acknowledgement" (`SubmitSuccessSemantics` tells them apart).
        guard let acknowledged = clock.acknowledge(through: message.lastSequenceNumber, at: LatencyClock.now(), { worker.record(latency: $0) }) else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        worker.counters.sharesAccepted += acknowledged
        let wasCumulative = semantics.isCumulative
        let delta = semantics.interpret(
            count: message.newSubmitsAcceptedCount, sum: message.newSharesSum,
            acknowledged: UInt32(truncatingIfNeeded: acknowledged))
        if !delta.countAgreed { worker.counters.acknowledgementCountMismatches += 1 }
        if !wasCumulative && semantics.isCumulative { worker.counters.cumulativeCountChannels += 1 }
        if worker.configuration.sharesPerSecond == 0 { try submit(acknowledged, context: context) }
    }

    mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        worker.counters.sharesRejected += 1
        worker.countRejection(String(decoding: message.errorCode, as: UTF8.self))
        let worker = self.worker
        guard clock.acknowledge(message.sequenceNumber, at: LatencyClock.now(), { worker.record(latency: $0) }) else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        if worker.configuration.sharesPerSecond == 0 { try submit(1, context: context) }
    }

    mutating func handle(_ message: CloseChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        tracker = nil
    }

    mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
    mutating func handle(_ message: UpdateChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
}

/// A share ready to send, on whichever channel type the miner opened.
enum LoadTestShare {
    case standard(SubmitSharesStandard)
    case extended(SubmitSharesExtended)
}

extension Hash256 {
    /// The 32 wire bytes of `value` as a hash (both are raw byte order).
    init(_ value: U256) {
        var raw: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        self = Swift.withUnsafeMutableBytes(of: &raw) { buffer in
            value.store(to: buffer.baseAddress!)
            return Hash256(copying: buffer.baseAddress!)
        }
    }
}

extension Target {
    /// A wire `U256` target (a little-endian integer) as a ``Target``.
    init(_ value: U256) {
        self.init(UInt256(w0: value.limbs.0, w1: value.limbs.1, w2: value.limbs.2, w3: value.limbs.3))
    }
}
