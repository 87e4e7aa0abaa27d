public import Sv2Codec
public import Sv2Mining
public import Sv2Service

/// The smallest pool worth load-testing: standard channels with the target the miner asks for, one job and one
/// chain tip per channel, and every `SubmitSharesStandard` validated for real (header rebuilt and SHA-256d hashed,
/// duplicates detected) with Sv2Mining's `ShareValidator`, then acknowledged one by one.
///
/// It is the load test's default target until the full pool app is used, and the workload the SwiftNIO baseline
/// in `Benchmarks/` reproduces.
public struct ReferencePool: Sv2MiningServerHandler {
    /// Job id of the single job every channel gets.
    public static let jobID: UInt32 = 1
    /// Header version of the job.
    public static let version: UInt32 = 0x2000_0000
    /// A network target no share reaches (so every valid share is "just" a share).
    public static let nbits: UInt32 = 0x1703_0ecd
    /// The chain tip's `min_ntime`.
    public static let minNtime: UInt32 = 1_750_000_000

    /// Channel index → validator (channel ids are index + 1; closed channels become nil, ids are not reused).
    private var channels: [ShareValidator?] = []
    /// Channels opened.
    public private(set) var channelsOpened = 0
    /// Shares accepted.
    public private(set) var sharesAccepted = 0
    /// Shares rejected.
    public private(set) var sharesRejected = 0
    /// Channels of each connection, to drop their validators on close.
    private var channelsByConnection: [Sv2ConnectionID: [UInt32]] = [:]

    /// A pool with no channels yet.
    public init() {}

    /// The previous-block hash of the single chain tip (raw order).
    public static let prevHash = Hash256(hex: String(repeating: "ab", count: 32))!

    /// The merkle root of channel `channelID`'s job (distinct per channel, so shares differ across channels).
    public static func merkleRoot(channel channelID: UInt32) -> Hash256 {
        var bytes = [UInt8](repeating: 0x5a, count: 32)
        withUnsafeBytes(of: channelID.littleEndian) { for (i, byte) in $0.enumerated() { bytes[i] = byte } }
        return Hash256(bytes: bytes)!
    }

    public mutating func handle(_ open: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        channels.append(nil)
        let channelID = UInt32(channels.count)
        let target = Target(open.maxTarget)
        let merkleRoot = Self.merkleRoot(channel: channelID)
        var validator = ShareValidator(maximumActiveJobs: 1, staleMemory: 1)
        validator.activate(ShareJob(
            standardJobID: Self.jobID, version: Self.version, prevHash: Self.prevHash, merkleRoot: merkleRoot,
            nbits: Self.nbits, minNtime: Self.minNtime, target: target), newChainTip: true)
        channels[Int(channelID) - 1] = validator
        channelsByConnection[context.connectionID, default: []].append(channelID)
        channelsOpened += 1
        var prefix: [UInt8] = []
        withUnsafeBytes(of: channelID.bigEndian) { prefix.append(contentsOf: $0) }
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: open.requestID, channelID: channelID, target: open.maxTarget, extranoncePrefix: prefix,
            groupChannelID: 0))
        try context.send(NewMiningJob(
            channelID: channelID, jobID: Self.jobID, minNtime: nil, version: Self.version,
            merkleRoot: U256(merkleRoot)))
        try context.send(SetNewPrevHash(
            channelID: channelID, jobID: Self.jobID, prevHash: U256(Self.prevHash), minNtime: Self.minNtime,
            nbits: Self.nbits))
    }

    public mutating func handle(_ share: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let index = Int(share.channelID) - 1
        guard index >= 0, index < channels.count, channels[index] != nil else {
            sharesRejected += 1
            return try context.send(SubmitSharesError(
                channelID: share.channelID, sequenceNumber: share.sequenceNumber,
                errorCode: ShareRejection.invalidChannelID.code))
        }
        let outcome = channels[index]!.validate(Share(
            jobID: share.jobID, nonce: share.nonce, ntime: share.ntime, version: share.version))
        switch outcome {
        case .accepted, .blockFound:
            sharesAccepted += 1
            try context.send(SubmitSharesSuccess(
                channelID: share.channelID, lastSequenceNumber: share.sequenceNumber, newSubmitsAcceptedCount: 1,
                newSharesSum: 1))
        case .rejected(let rejection):
            sharesRejected += 1
            try context.send(SubmitSharesError(
                channelID: share.channelID, sequenceNumber: share.sequenceNumber, errorCode: rejection.code))
        }
    }

    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        guard let ids = channelsByConnection.removeValue(forKey: connectionID) else { return }
        for id in ids { channels[Int(id) - 1] = nil }
    }
}

extension U256 {
    /// The raw 32 bytes of `hash` as a wire `U256`.
    init(_ hash: Hash256) {
        self = hash.withUnsafeBytes { U256(loadingFrom: $0.baseAddress!) }
    }
}
