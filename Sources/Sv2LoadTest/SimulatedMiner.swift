import Sv2Codec
import Sv2Mining
import Sv2Service

/// One simulated miner: opens a standard channel asking for the easiest target, follows `NewMiningJob` /
/// `SetNewPrevHash` / `SetTarget`, and builds shares whose header really meets the channel target (so the pool
/// does real validation work). Acknowledgements are matched to send times for the latency histogram.
struct SimulatedMiner: Sv2MiningClientHandler {
    /// A job whose header fields are all known.
    struct Job {
        var id: UInt32
        var version: UInt32
        var merkleRoot: Hash256
    }

    unowned(unsafe) let worker: LoadTestWorker
    /// The miner's slot in its worker.
    let slot: Int
    private var channelID: UInt32?
    private var target = Target.max
    private var activeJob: Job?
    private var futureJob: Job?
    private var prevHash: Hash256?
    private var nbits: UInt32 = 0
    private var minNtime: UInt32 = 0
    private var nonce: UInt32 = 0
    private var clock = ShareClock()
    /// When the miner could first submit (rate mode paces from here).
    private(set) var miningSince: UInt64 = 0
    /// Shares submitted so far.
    private(set) var sharesSent = 0

    init(worker: LoadTestWorker, slot: Int) {
        self.worker = worker
        self.slot = slot
    }

    /// Whether a share can be built (channel open, job and chain tip known).
    var canSubmit: Bool { channelID != nil && activeJob != nil && prevHash != nil }

    /// Shares awaiting an acknowledgement.
    var outstanding: Int { clock.outstanding }

    // MARK: Shares

    /// Builds the next valid share and records its send time; nil when no job is active.
    mutating func nextShare(now: UInt64) -> SubmitSharesStandard? {
        guard let channelID, let job = activeJob, let prevHash else { return nil }
        var header = BlockHeader(
            version: job.version, prevHash: prevHash, merkleRoot: job.merkleRoot, ntime: minNtime, nbits: nbits,
            nonce: nonce)
        // Search like a miner would; with the easy target the load test asks for, the first nonce qualifies.
        var attempts = 0
        while !target.isMet(by: header.hash) {
            header.nonce &+= 1
            attempts += 1
            // Roll ntime once the nonce space wraps, so shares stay distinct (duplicates would be rejected).
            if header.nonce == 0 { header.ntime &+= 1; minNtime = header.ntime }
            if attempts == 1 << 16 { break }  // a hard target: submit anyway, the pool will reject it
        }
        nonce = header.nonce &+ 1
        if nonce == 0 { minNtime &+= 1 }
        sharesSent += 1
        worker.counters.sharesSent += 1
        let sequence = clock.send(at: worker.loop.now)
        return SubmitSharesStandard(
            channelID: channelID, sequenceNumber: sequence, jobID: job.id, nonce: header.nonce, ntime: header.ntime,
            version: header.version)
    }

    /// Submits up to `count` shares through `context`.
    private mutating func submit(_ count: Int, context: Sv2ClientContext) throws(Sv2ServiceError) {
        for _ in 0..<count {
            guard worker.isSubmitting, let share = nextShare(now: worker.loop.now) else { return }
            try context.send(share)
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
        guard !worker.configuration.handshakeOnly else { return }
        try context.send(OpenStandardMiningChannel(
            requestID: UInt32(truncatingIfNeeded: slot), userIdentity: "\(worker.configuration.userIdentity).\(slot)",
            nominalHashRate: worker.configuration.nominalHashRate, maxTarget: .max))
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        worker.counters.sharesLostOnClose += clock.outstanding
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        channelID = message.channelID
        target = Target(message.target)
        worker.counters.channelsOpened += 1
        try startMiningIfReady(context: context)
    }

    mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        worker.counters.channelOpenFailures += 1
    }

    mutating func handle(_ message: NewMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let job = Job(id: message.jobID, version: message.version, merkleRoot: Hash256(message.merkleRoot))
        if let ntime = message.minNtime {
            activeJob = job
            minNtime = Swift.max(minNtime, ntime)
            try startMiningIfReady(context: context)
        } else {
            futureJob = job
        }
    }

    mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        prevHash = Hash256(message.prevHash)
        nbits = message.nbits
        minNtime = message.minNtime
        nonce = 0
        if let job = futureJob, job.id == message.jobID {
            activeJob = job
            futureJob = nil
        }
        try startMiningIfReady(context: context)
    }

    mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        target = Target(message.maximumTarget)
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let accepted = Int(message.newSubmitsAcceptedCount)
        worker.counters.sharesAccepted += accepted
        let worker = self.worker
        guard let acknowledged = clock.acknowledge(through: message.lastSequenceNumber, at: worker.loop.now, { worker.record(latency: $0) }) else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        if acknowledged != accepted { worker.counters.acknowledgementCountMismatches += 1 }
        if worker.configuration.sharesPerSecond == 0 { try submit(acknowledged, context: context) }
    }

    mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        worker.counters.sharesRejected += 1
        worker.counters.rejectionCodes[String(decoding: message.errorCode, as: UTF8.self), default: 0] += 1
        let worker = self.worker
        guard clock.acknowledge(message.sequenceNumber, at: worker.loop.now, { worker.record(latency: $0) }) else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        if worker.configuration.sharesPerSecond == 0 { try submit(1, context: context) }
    }

    mutating func handle(_ message: CloseChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        channelID = nil
    }

    mutating func handle(_ message: SetExtranoncePrefixView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
    mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
    mutating func handle(_ message: UpdateChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {}
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
