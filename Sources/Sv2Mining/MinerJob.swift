public import Sv2Codec
public import Sv2Bitcoin

/// A mining job as a client received it (`NewMiningJob` or `NewExtendedMiningJob`), before a chain tip makes it
/// minable.
public struct MinerJob: Sendable, Hashable {
    /// What the job fixes of the header's merkle root.
    public enum Body: Sendable, Hashable {
        /// Standard job: the upstream already baked the channel's extranonce prefix into the merkle root.
        case standard(merkleRoot: Hash256)
        /// Extended job: coinbase around the extranonce (BIP141-stripped) and the coinbase's merkle path.
        case extended(coinbasePrefix: [UInt8], coinbaseSuffix: [UInt8], merklePath: [Hash256])
    }

    /// The id shares for this job carry.
    public var jobID: UInt32
    /// `min_ntime`: `nil` for a future job (activated by a later `SetNewPrevHash`), else active at once.
    public var minNtime: UInt32?
    /// Header version.
    public var version: UInt32
    /// Whether BIP320 bits may be rolled (always true for standard jobs).
    public var versionRollingAllowed: Bool
    /// The merkle-root part.
    public var body: Body

    /// Creates a job from its parts.
    public init(jobID: UInt32, minNtime: UInt32?, version: UInt32, versionRollingAllowed: Bool, body: Body) {
        self.jobID = jobID
        self.minNtime = minNtime
        self.version = version
        self.versionRollingAllowed = versionRollingAllowed
        self.body = body
    }

    /// Copies a `NewMiningJob`.
    public init(_ message: NewMiningJobView) {
        self.init(
            jobID: message.jobID, minNtime: message.minNtime, version: message.version, versionRollingAllowed: true,
            body: .standard(merkleRoot: WireConversions.hash(message.merkleRoot)))
    }

    /// Copies a `NewExtendedMiningJob`.
    public init(_ message: NewExtendedMiningJobView) {
        self.init(
            jobID: message.jobID, minNtime: message.minNtime, version: message.version,
            versionRollingAllowed: message.versionRollingAllowed,
            body: .extended(
                coinbasePrefix: Array(message.coinbaseTxPrefix), coinbaseSuffix: Array(message.coinbaseTxSuffix),
                merklePath: message.merklePath.map(WireConversions.hash)))
    }

    /// Whether this is a future job.
    public var isFuture: Bool { minNtime == nil }

    /// Whether this is an extended job.
    public var isExtended: Bool {
        if case .extended = body { true } else { false }
    }
}
