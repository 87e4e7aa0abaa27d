import Sv2Bitcoin
import Sv2Mining

/// Everything a ``Pool`` needs: a plain value with defaults, so the `sv2 pool` app can fill it from flags or TOML.
///
/// ```swift
/// var configuration = PoolConfiguration(payoutScript: myScriptPubKey)
/// configuration.poolTag = "my-pool"
/// configuration.sharesPerMinute = 12
/// ```
public struct PoolConfiguration: Sendable, Hashable {
    /// Locking script (scriptPubKey) of the pool's payout output; it receives the whole coinbase value.
    public var payoutScript: [UInt8]
    /// Pool identification pushed into the coinbase scriptSig as `Sv2/<poolTag>/` (empty pushes nothing).
    public var poolTag: String
    /// Target average of accepted shares per minute per channel (initial target and vardiff).
    public var sharesPerMinute: Double
    /// Bytes of the extranonce the pool fixes per channel (its unique prefix): 1…8.
    public var extranoncePrefixLength: Int
    /// Bytes an extended channel may roll (`extranonce_size` in `OpenExtendedMiningChannel.Success`); a client
    /// asking for more gets `min-extranonce-size-too-large`. Prefix + rollable ≤ 32.
    public var extranonceRollableLength: Int
    /// Local prefix ids `0..<reservedExtranonceIDs` are never handed out.
    public var reservedExtranonceIDs: UInt64
    /// Seconds between vardiff decisions per channel.
    public var vardiffWindow: Double
    /// Largest factor a channel's target may change by in one vardiff step.
    public var vardiffMaxStep: Double
    /// Easiest share difficulty handed out (bounds vardiff and initial targets; protects the share budget).
    public var minimumDifficulty: Double
    /// Hardest share difficulty handed out, also bounding what `UpdateChannel` can ask for (`nil`: unbounded).
    /// The default, ``defaultMaximumDifficulty``, suits any real hardware.
    public var maximumDifficulty: Double?
    /// Accepted shares per channel acknowledged together in one `SubmitShares.Success` (1 = ack every share).
    public var ackBatchSize: Int
    /// Longest an accepted share waits for its acknowledgement (the pool's tick also flushes partial batches).
    public var ackInterval: Duration
    /// Jobs of one chain tip that stay valid together per channel (older ones answer `stale-share`).
    public var maximumActiveJobs: Int
    /// Duplicate-share table size per channel (slots, 8 bytes each; grows to this). When it is 3/4 full the
    /// channel's jobs are renewed above an ntime floor rather than the table forgetting (see `ShareValidator`).
    public var duplicateFilterCapacity: Int
    /// Group the standard channels of a connection that accepts extended jobs (did not set
    /// REQUIRES_STANDARD_JOBS, e.g. a proxy) into one group channel: announced with `SetGroupChannel`, and every job
    /// sent ONCE to the group id as a `NewExtendedMiningJob` (+ `SetNewPrevHash`) instead of per channel. Off by
    /// default. Extended channels are never grouped: peers gain nothing from it and SRI's translator_sv2 1.0.0
    /// closes the connection on `SetGroupChannel`.
    public var groupStandardChannels: Bool
    /// How long a submitted block may wait for the chain tip to move onto it before a pending sibling block on the
    /// same previous block is submitted too.
    public var blockAcknowledgementTimeout: Duration
    /// Channels one connection may have open at once; further opens are answered `OpenMiningChannel.Error`
    /// `max-channels-per-connection-reached`. Each channel holds a share validator and a duplicate filter (up to
    /// `duplicateFilterCapacity` × 8 bytes), so this bounds what one connection can make the pool allocate. A miner
    /// needs one channel; a proxy opening one upstream channel per downstream miner needs this raised.
    public var maximumChannelsPerConnection = 1024
    /// User identities whose lifetime share totals are kept one by one (``Pool/userTotals()``, per-user metrics);
    /// later ones are summed together. Bounds the memory an endless stream of new user names can take.
    public var maximumTrackedUsers = 10_000
    /// Which part of the channel-id and extranonce-prefix spaces this pool hands out, when one pool runs on several
    /// event loops (``PoolCluster``): loop `partitionIndex` of `partitionCount` takes one contiguous
    /// `1/partitionCount` of each, so channel ids and prefixes are unique across loops. The default (0 of 1) is the
    /// whole space: a single-loop pool.
    public var partitionIndex = 0
    /// The number of partitions (loops); see ``partitionIndex``.
    public var partitionCount = 1

    /// Default ``maximumDifficulty``: 1e15. At 10 shares a minute that is a channel of ~7·10^20 H/s, several times
    /// today's whole network, while a share target that hard is still far easier than any hash can reach by
    /// rounding; it keeps `UpdateChannel` with an absurd hashrate from producing a meaningless target.
    public static let defaultMaximumDifficulty = 1e15

    /// Creates a configuration; every value but the payout script has a usable default.
    public init(
        payoutScript: [UInt8], poolTag: String = "swift-stratum", sharesPerMinute: Double = 10,
        extranoncePrefixLength: Int = 4, extranonceRollableLength: Int = 16, reservedExtranonceIDs: UInt64 = 0,
        vardiffWindow: Double = 60, vardiffMaxStep: Double = 4, minimumDifficulty: Double = 1e-6,
        maximumDifficulty: Double? = PoolConfiguration.defaultMaximumDifficulty, ackBatchSize: Int = 8,
        ackInterval: Duration = .milliseconds(200), maximumActiveJobs: Int = 8, duplicateFilterCapacity: Int = 1 << 16,
        blockAcknowledgementTimeout: Duration = .seconds(5), groupStandardChannels: Bool = false
    ) {
        self.payoutScript = payoutScript
        self.poolTag = poolTag
        self.sharesPerMinute = sharesPerMinute
        self.extranoncePrefixLength = extranoncePrefixLength
        self.extranonceRollableLength = extranonceRollableLength
        self.reservedExtranonceIDs = reservedExtranonceIDs
        self.vardiffWindow = vardiffWindow
        self.vardiffMaxStep = vardiffMaxStep
        self.minimumDifficulty = minimumDifficulty
        self.maximumDifficulty = maximumDifficulty
        self.ackBatchSize = ackBatchSize
        self.ackInterval = ackInterval
        self.maximumActiveJobs = maximumActiveJobs
        self.duplicateFilterCapacity = duplicateFilterCapacity
        self.blockAcknowledgementTimeout = blockAcknowledgementTimeout
        self.groupStandardChannels = groupStandardChannels
    }

    /// Total extranonce bytes in the coinbase scriptSig (prefix + rollable part).
    public var extranonceLength: Int { extranoncePrefixLength + extranonceRollableLength }

    /// The scriptSig tag bytes (`Sv2/<poolTag>/`), as SRI's pool writes it.
    public var coinbaseTag: [UInt8] { poolTag.isEmpty ? [] : Array("Sv2/\(poolTag)/".utf8) }

    /// Extra bytes the pool adds to a template's coinbase outputs (for `CoinbaseOutputConstraints`): one output
    /// of `8 + CompactSize + script` bytes.
    public var coinbaseOutputMaxAdditionalSize: UInt32 {
        UInt32(8 + (payoutScript.count < 0xfd ? 1 : 3) + payoutScript.count)
    }

    /// Checks the values are usable.
    public func validate() throws(PoolError) {
        guard (1...256).contains(partitionCount), (0..<partitionCount).contains(partitionIndex) else {
            throw .invalidConfiguration("partitionCount must be 1...256 and partitionIndex 0..<partitionCount")
        }
        guard maximumTrackedUsers >= 0 else { throw .invalidConfiguration("maximumTrackedUsers must be ≥ 0") }
        guard maximumChannelsPerConnection > 0 else {
            throw .invalidConfiguration("maximumChannelsPerConnection must be positive")
        }
        guard (1...8).contains(extranoncePrefixLength) else {
            throw .invalidConfiguration("extranoncePrefixLength must be 1...8")
        }
        guard extranonceRollableLength >= 0, extranonceLength <= Extranonce.maxLength else {
            throw .invalidConfiguration("extranonce prefix + rollable length must be at most 32")
        }
        guard sharesPerMinute.isFinite, sharesPerMinute > 0 else {
            throw .invalidConfiguration("sharesPerMinute must be positive")
        }
        guard vardiffWindow.isFinite, vardiffWindow > 0, vardiffMaxStep >= 1 else {
            throw .invalidConfiguration("vardiffWindow must be positive and vardiffMaxStep at least 1")
        }
        guard Target(difficulty: minimumDifficulty) != nil else {
            throw .invalidConfiguration("minimumDifficulty must be positive")
        }
        if let maximumDifficulty {
            guard maximumDifficulty >= minimumDifficulty, Target(difficulty: maximumDifficulty) != nil else {
                throw .invalidConfiguration("maximumDifficulty must be at least minimumDifficulty")
            }
        }
        guard ackBatchSize >= 1, ackInterval > .zero else {
            throw .invalidConfiguration("ackBatchSize must be at least 1 and ackInterval positive")
        }
        guard maximumActiveJobs >= 1 else { throw .invalidConfiguration("maximumActiveJobs must be at least 1") }
        guard duplicateFilterCapacity >= 8, duplicateFilterCapacity <= 1 << 26 else {
            throw .invalidConfiguration("duplicateFilterCapacity must be 8...2^26")
        }
        guard blockAcknowledgementTimeout > .zero else {
            throw .invalidConfiguration("blockAcknowledgementTimeout must be positive")
        }
        guard payoutScript.count <= 10_000 else { throw .invalidConfiguration("payoutScript is too long") }
        let tagPush = coinbaseTag.isEmpty ? 0 : Script.push(coinbaseTag).count
        // Worst case BIP34 prefix (≤ 8 bytes) + tag push + extranonce push must fit a 100-byte scriptSig.
        guard 8 + tagPush + 1 + extranonceLength <= 100 else {
            throw .invalidConfiguration("poolTag is too long for the coinbase scriptSig")
        }
    }

    /// Easiest target handed out.
    var easiestTarget: Target { Target(difficulty: minimumDifficulty) ?? .max }
    /// Hardest target handed out.
    var hardestTarget: Target { maximumDifficulty.flatMap { Target(difficulty: $0) } ?? Target(.zero) }
}
