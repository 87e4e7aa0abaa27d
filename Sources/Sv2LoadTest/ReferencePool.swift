public import Sv2Codec
public import Sv2Bitcoin
public import Sv2Mining
public import Sv2Service

/// The smallest pool worth load-testing: standard and extended channels with the target the miner asks for, one
/// job and one chain tip per channel, and every `SubmitSharesStandard` / `SubmitSharesExtended` validated for real
/// with Sv2Mining's `ShareValidator` (extended: coinbase rebuilt around the extranonce and hashed up a merkle path;
/// both: header rebuilt and SHA-256d hashed, duplicates detected), then acknowledged one by one. When a channel's
/// duplicate filter fills (``ShareValidator/needsFreshJob``), it gets a fresh job above the filter's `ntime` floor, as
/// the full pool does, so a long closed-loop run keeps being accepted instead of turning `stale-share`.
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

    /// One open channel: its validator and what its job is rebuilt from when the duplicate filter fills.
    private struct Channel {
        var validator: ShareValidator
        let work: Work
        let target: Target
        var lastJobID: UInt32 = ReferencePool.jobID
    }

    /// What a channel mines on: enough to issue a fresh job with a higher `min_ntime`.
    private enum Work {
        case standard(merkleRoot: Hash256)
        case extended(coinbasePrefix: [UInt8], coinbaseSuffix: [UInt8], extranoncePrefix: Extranonce, rollable: Int)
    }

    /// Channel index → channel (channel ids are index + 1; closed channels become nil, ids are not reused).
    private var channels: [Channel?] = []
    /// Largest duplicate-filter table per channel (see `DuplicateShareFilter.maximumCapacity`).
    public let duplicateFilterCapacity: Int
    /// Channels opened (standard and extended).
    public private(set) var channelsOpened = 0
    /// Extended channels opened.
    public private(set) var extendedChannelsOpened = 0
    /// Shares accepted.
    public private(set) var sharesAccepted = 0
    /// Shares rejected.
    public private(set) var sharesRejected = 0
    /// Fresh jobs sent because a channel's duplicate filter filled.
    public private(set) var jobsRenewed = 0
    /// Channels of each connection, to drop their validators on close.
    private var channelsByConnection: [Sv2ConnectionID: [UInt32]] = [:]

    /// A pool with no channels yet.
    ///
    /// - Parameter duplicateFilterCapacity: the per-channel duplicate filter's largest table (the default is the
    ///   validator's; tests make it small to reach a rollover quickly).
    public init(duplicateFilterCapacity: Int = DuplicateShareFilter().maximumCapacity) {
        self.duplicateFilterCapacity = duplicateFilterCapacity
    }

    /// A validator for one channel, with this pool's duplicate filter size.
    private func makeValidator() -> ShareValidator {
        ShareValidator(
            maximumActiveJobs: 1, staleMemory: 1,
            duplicateFilter: DuplicateShareFilter(maximumCapacity: duplicateFilterCapacity))
    }

    /// The previous-block hash of the single chain tip (raw order).
    public static let prevHash = Hash256(hex: String(repeating: "ab", count: 32))!

    /// The merkle root of channel `channelID`'s job (distinct per channel, so shares differ across channels).
    public static func merkleRoot(channel channelID: UInt32) -> Hash256 {
        var bytes = [UInt8](repeating: 0x5a, count: 32)
        withUnsafeBytes(of: channelID.littleEndian) { for (i, byte) in $0.enumerated() { bytes[i] = byte } }
        return Hash256(bytes: bytes)!
    }

    /// Rollable extranonce bytes granted to extended channels that ask for fewer.
    public static let defaultExtranonceSize = 8
    /// Bytes of the per-channel extranonce prefix (the channel id, big-endian).
    public static let extranoncePrefixSize = 4

    /// The coinbase every extended job is built around: BIP34 height push, the `Sv2/loadtest/` tag, then the
    /// channel's prefix plus `rollable` extranonce bytes, one OP_TRUE output.
    public static func coinbase(rollable: Int) -> Coinbase {
        // 50 BTC to OP_TRUE: value (8 bytes LE), script length, script.
        var output: [UInt8] = []
        withUnsafeBytes(of: UInt64(5_000_000_000).littleEndian) { output.append(contentsOf: $0) }
        output += [0x01, 0x51]
        return try! Coinbase(
            version: 2, scriptSigPrefix: [0x03, 0x40, 0x0d, 0x03], tag: Array("Sv2/loadtest/".utf8),
            extranonceLength: extranoncePrefixSize + rollable, sequence: 0xffff_ffff, poolOutputs: [],
            templateOutputs: output, templateOutputCount: 1, locktime: 0)
    }

    /// The coinbase's merkle path: two fixed siblings, as in a block with three or four transactions.
    public static let merklePath: [Hash256] = [
        Hash256(hex: String(repeating: "11", count: 32))!, Hash256(hex: String(repeating: "22", count: 32))!,
    ]

    public mutating func handle(_ open: OpenExtendedMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let requested = Int(open.minExtranonceSize)
        guard requested <= Extranonce.maxLength - Self.extranoncePrefixSize else {
            return try context.send(OpenMiningChannelError(
                requestID: open.requestID, errorCode: "min-extranonce-size-too-large"))
        }
        let rollable = Swift.max(requested, Self.defaultExtranonceSize)
        channels.append(nil)
        let channelID = UInt32(channels.count)
        let target = Target(open.maxTarget)
        let prefix = Self.extranoncePrefix(channel: channelID)
        let parts = Self.coinbase(rollable: rollable).parts(witness: false)
        let channel = Channel(
            validator: makeValidator(),
            work: .extended(coinbasePrefix: parts.prefix, coinbaseSuffix: parts.suffix,
                            extranoncePrefix: Extranonce(bytes: prefix)!, rollable: rollable),
            target: target)
        channels[Int(channelID) - 1] = channel
        channels[Int(channelID) - 1]!.validator.activate(
            Self.shareJob(channel, jobID: Self.jobID, minNtime: Self.minNtime), newChainTip: true)
        channelsByConnection[context.connectionID, default: []].append(channelID)
        channelsOpened += 1
        extendedChannelsOpened += 1
        try context.send(OpenExtendedMiningChannelSuccess(
            requestID: open.requestID, channelID: channelID, target: open.maxTarget,
            extranonceSize: UInt16(rollable), extranoncePrefix: prefix, groupChannelID: 0))
        try context.send(NewExtendedMiningJob(
            channelID: channelID, jobID: Self.jobID, minNtime: nil, version: Self.version,
            versionRollingAllowed: true, merklePath: Self.merklePath.map { U256($0) },
            coinbaseTxPrefix: parts.prefix, coinbaseTxSuffix: parts.suffix))
        try context.send(SetNewPrevHash(
            channelID: channelID, jobID: Self.jobID, prevHash: U256(Self.prevHash), minNtime: Self.minNtime,
            nbits: Self.nbits))
    }

    public mutating func handle(_ share: SubmitSharesExtendedView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        // The view already limits the extranonce to 32 bytes; copying it into an `Extranonce` does not allocate.
        try validate(
            channelID: share.channelID, sequenceNumber: share.sequenceNumber,
            Share(jobID: share.jobID, nonce: share.nonce, ntime: share.ntime, version: share.version,
                  extranonce: Extranonce(copying: share.extranonce) ?? .empty),
            context: context)
    }

    /// The extranonce prefix of channel `channelID` (its id, big-endian, so prefixes are distinct).
    static func extranoncePrefix(channel channelID: UInt32) -> [UInt8] {
        var prefix: [UInt8] = []
        withUnsafeBytes(of: channelID.bigEndian) { prefix.append(contentsOf: $0) }
        return prefix
    }

    public mutating func handle(_ open: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        channels.append(nil)
        let channelID = UInt32(channels.count)
        let target = Target(open.maxTarget)
        let merkleRoot = Self.merkleRoot(channel: channelID)
        let channel = Channel(validator: makeValidator(), work: .standard(merkleRoot: merkleRoot), target: target)
        channels[Int(channelID) - 1] = channel
        channels[Int(channelID) - 1]!.validator.activate(
            Self.shareJob(channel, jobID: Self.jobID, minNtime: Self.minNtime), newChainTip: true)
        channelsByConnection[context.connectionID, default: []].append(channelID)
        channelsOpened += 1
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: open.requestID, channelID: channelID, target: open.maxTarget,
            extranoncePrefix: Self.extranoncePrefix(channel: channelID),
            groupChannelID: 0))
        try context.send(NewMiningJob(
            channelID: channelID, jobID: Self.jobID, minNtime: nil, version: Self.version,
            merkleRoot: U256(merkleRoot)))
        try context.send(SetNewPrevHash(
            channelID: channelID, jobID: Self.jobID, prevHash: U256(Self.prevHash), minNtime: Self.minNtime,
            nbits: Self.nbits))
    }

    public mutating func handle(_ share: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try validate(
            channelID: share.channelID, sequenceNumber: share.sequenceNumber,
            Share(jobID: share.jobID, nonce: share.nonce, ntime: share.ntime, version: share.version),
            context: context)
    }

    /// Validates `share` on `channelID` and acknowledges it (success or error with the rejection code).
    private mutating func validate(
        channelID: UInt32, sequenceNumber: UInt32, _ share: Share, context: Sv2ServerContext
    ) throws(Sv2ServiceError) {
        let index = Int(channelID) - 1
        guard index >= 0, index < channels.count, channels[index] != nil else {
            sharesRejected += 1
            return try context.send(SubmitSharesError(
                channelID: channelID, sequenceNumber: sequenceNumber, errorCode: ShareRejection.invalidChannelID.code))
        }
        switch channels[index]!.validator.validate(share) {
        case .accepted, .blockFound:
            sharesAccepted += 1
            try context.send(SubmitSharesSuccess(
                channelID: channelID, lastSequenceNumber: sequenceNumber, newSubmitsAcceptedCount: 1, newSharesSum: 1))
            if channels[index]!.validator.needsFreshJob { try renewJob(channelID: channelID, context: context) }
        case .rejected(let rejection):
            sharesRejected += 1
            try context.send(SubmitSharesError(
                channelID: channelID, sequenceNumber: sequenceNumber, errorCode: rejection.code))
        }
    }

    /// The duplicate filter of `channelID` filled and its job was retired: a fresh job (the next id) whose
    /// `min_ntime` is the validator's floor, sent and activated, so the miner's next shares are new work.
    private mutating func renewJob(channelID: UInt32, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let index = Int(channelID) - 1
        channels[index]!.lastJobID &+= 1
        let channel = channels[index]!
        let jobID = channel.lastJobID
        let minNtime = channel.validator.ntimeFloor
        channels[index]!.validator.activate(Self.shareJob(channel, jobID: jobID, minNtime: minNtime), newChainTip: false)
        jobsRenewed += 1
        switch channel.work {
        case .standard(let merkleRoot):
            try context.send(NewMiningJob(
                channelID: channelID, jobID: jobID, minNtime: minNtime, version: Self.version,
                merkleRoot: U256(merkleRoot)))
        case .extended(let prefix, let suffix, _, _):
            try context.send(NewExtendedMiningJob(
                channelID: channelID, jobID: jobID, minNtime: minNtime, version: Self.version,
                versionRollingAllowed: true, merklePath: Self.merklePath.map { U256($0) },
                coinbaseTxPrefix: prefix, coinbaseTxSuffix: suffix))
        }
    }

    /// The validator's job `jobID` for `channel`, valid from `minNtime`.
    private static func shareJob(_ channel: Channel, jobID: UInt32, minNtime: UInt32) -> ShareJob {
        switch channel.work {
        case .standard(let merkleRoot):
            ShareJob(
                standardJobID: jobID, version: version, prevHash: prevHash, merkleRoot: merkleRoot, nbits: nbits,
                minNtime: minNtime, target: channel.target)
        case .extended(let prefix, let suffix, let extranoncePrefix, let rollable):
            ShareJob(
                extendedJobID: jobID, version: version, versionRollingAllowed: true, prevHash: prevHash,
                coinbasePrefix: prefix, extranoncePrefix: extranoncePrefix, extranonceSize: rollable,
                coinbaseSuffix: suffix, merklePath: merklePath, nbits: nbits, minNtime: minNtime,
                target: channel.target)
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
