import Sv2Codec
import Sv2Service
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool

/// Drives a ``Pool`` directly (no sockets) as one standard-channel miner: opens the channel, follows the jobs the
/// pool answers with, and mines shares meeting a chosen target on the active job.
final class PoolUnitMiner {
    let pool: Pool
    let connection: Sv2ConnectionID
    let channelID: UInt32
    private(set) var jobID: UInt32
    private(set) var merkleRoot: Hash256
    private(set) var version: UInt32
    private(set) var minNtime: UInt32
    var prevHash: Hash256
    var nbits: UInt32
    private var nonce: UInt32 = 0
    private var sequence: UInt32 = 0

    /// Opens a standard channel on `pool` (which must already have a chain tip) at `hashrate`.
    init(pool: Pool, connection: UInt64, hashrate: Float = 1, tip: TemplateChainTip) throws {
        self.pool = pool
        self.connection = Sv2ConnectionID(connection)
        let recorder = Recorder()
        try withView(of: OpenStandardMiningChannel(
            requestID: 1, userIdentity: "miner\(connection)", nominalHashRate: hashrate, maxTarget: .max)) {
            try pool.openStandardChannel(
                $0, connection: Sv2ConnectionID(connection), setupFlags: 0, reply: RecordingSink(recorder: recorder))
        }
        guard let success = recorder.all(OpenStandardMiningChannelSuccess.self).first,
              let job = recorder.all(NewMiningJob.self).last
        else { throw PoolUnitMinerError.noChannel }
        channelID = success.channelID
        jobID = job.jobID
        merkleRoot = WireConversions.hash(job.merkleRoot)
        version = job.version
        minNtime = tip.headerTimestamp
        prevHash = tip.prevHash
        nbits = tip.nbits
    }

    /// Takes the newest `NewMiningJob` among `messages` as the active job (its `min_ntime` too).
    func follow(_ messages: [any Sv2Message]) {
        guard let job = messages.compactMap({ $0 as? NewMiningJob }).last(where: { $0.channelID == channelID })
        else { return }
        jobID = job.jobID
        merkleRoot = WireConversions.hash(job.merkleRoot)
        version = job.version
        if let floor = job.minNtime { minNtime = Swift.max(minNtime, floor) }
    }

    /// A share on the active job whose header hash meets `target`, at `ntime` (default: the job's min_ntime).
    func share(meeting target: Target, ntime: UInt32? = nil, job: UInt32? = nil) -> (SubmitSharesStandard, Hash256) {
        var header = BlockHeader(
            version: version, prevHash: prevHash, merkleRoot: merkleRoot, ntime: ntime ?? minNtime, nbits: nbits,
            nonce: nonce)
        while !target.isMet(by: header.hash) { header.nonce &+= 1 }
        nonce = header.nonce &+ 1
        defer { sequence &+= 1 }
        return (SubmitSharesStandard(
            channelID: channelID, sequenceNumber: sequence, jobID: job ?? jobID, nonce: header.nonce,
            ntime: header.ntime, version: header.version), header.hash)
    }

    /// A share meeting `share` target but not the network target (so it is not a block).
    func ordinaryShare(meeting target: Target, job: UInt32? = nil) -> SubmitSharesStandard {
        let network = Target(compact: nbits)!
        while true {
            let (candidate, hash) = share(meeting: target, job: job)
            if !network.isMet(by: hash) { return candidate }
        }
    }

    /// Submits `share`; returns what the pool sent back.
    @discardableResult
    func submit(_ share: SubmitSharesStandard, reply: (any PoolReplySink)? = nil) throws -> [any Sv2Message] {
        let recorder = Recorder()
        let sink = reply ?? RecordingSink(recorder: recorder)
        try withView(of: share) { view in try Self.submit(view, to: pool, via: sink) }
        return recorder.messages
    }

    private static func submit<Sink: PoolReplySink>(
        _ view: SubmitSharesStandardView, to pool: Pool, via sink: Sink
    ) throws(Sv2ServiceError) {
        try pool.submit(view, reply: sink)
    }
}

enum PoolUnitMinerError: Error { case noChannel }

/// A reply sink that fails every `SubmitShares.Success` (a peer whose write buffer is full) and records the rest.
struct FailingAckSink: PoolReplySink {
    let recorder: Recorder
    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        if message is SubmitSharesSuccess { throw .notConnected }
        recorder.messages.append(message)
    }
}

/// A block journal in memory that can be told to fail, recording what it was given and in which order relative to
/// other events (`log`).
final class MemoryJournal: BlockJournaling {
    var entries: [BlockJournalEntry] = []
    var failing = false
    let log: TestBox<[String]>
    init(log: TestBox<[String]> = TestBox([])) { self.log = log }

    func append(_ entry: BlockJournalEntry) throws(BlockJournalError) {
        if failing { throw .system(call: "write", path: "memory", errno: 28) }
        entries.append(entry)
        log.value.append("journal \(entry.event.rawValue)")
    }
}
