public import Sv2Bitcoin
import Sv2Mining

/// Everything a `MinerSession` needs: who mines, on which kind of channel, with how many threads.
public struct MinerConfiguration: Sendable, Hashable {
    /// The channel to open once the connection is set up.
    public enum ChannelType: String, Sendable, Hashable, CaseIterable {
        /// Standard channel: header-only mining on `NewMiningJob`s.
        case standard
        /// Extended channel: the miner builds the coinbase and rolls its own extranonce.
        case extended
    }

    /// `user_identity` of the channel (pool account, often `account.worker`).
    public var userIdentity: String
    /// Announced hashrate in H/s (the pool derives the first target from it).
    public var nominalHashrate: Float
    /// Standard or extended channel.
    public var channelType: ChannelType
    /// `min_extranonce_size` requested on extended channels.
    public var minExtranonceSize: UInt16
    /// `max_target`: the easiest target the miner accepts.
    public var maxTarget: Target
    /// Worker threads and search layout.
    public var cpu: CPUMinerConfiguration
    /// How often the hashrate is measured and reported through `MinerEvent.hashrate`.
    public var hashrateInterval: Duration
    /// Shares found while more than this many bytes wait to be sent to the server are dropped (counted in
    /// ``MinerStatistics/sharesDroppedCongested``): at a very easy target workers find shares faster than the link
    /// drains, and queueing them all would overflow the write buffer and close the connection.
    public var maxPendingShareBytes: Int

    /// Creates a configuration.
    public init(
        userIdentity: String, nominalHashrate: Float = 10_000_000, channelType: ChannelType = .standard,
        minExtranonceSize: UInt16 = 4, maxTarget: Target = .max, cpu: CPUMinerConfiguration = CPUMinerConfiguration(),
        hashrateInterval: Duration = .seconds(5), maxPendingShareBytes: Int = 256 << 10
    ) {
        self.userIdentity = userIdentity
        self.nominalHashrate = nominalHashrate
        self.channelType = channelType
        self.minExtranonceSize = minExtranonceSize
        self.maxTarget = maxTarget
        self.cpu = cpu
        self.hashrateInterval = hashrateInterval
        self.maxPendingShareBytes = maxPendingShareBytes
    }

    /// Checks the values are usable.
    public func validate() throws(CPUMinerError) {
        try cpu.validate()
        guard userIdentity.utf8.count <= 255 else { throw .invalidConfiguration("userIdentity is longer than 255 bytes") }
        guard nominalHashrate.isFinite, nominalHashrate >= 0 else {
            throw .invalidConfiguration("nominalHashrate must be a finite, non-negative number")
        }
        guard minExtranonceSize <= UInt16(Extranonce.maxLength) else {
            throw .invalidConfiguration("minExtranonceSize must be at most 32")
        }
        guard hashrateInterval > .zero else { throw .invalidConfiguration("hashrateInterval must be positive") }
        guard maxPendingShareBytes > 0 else { throw .invalidConfiguration("maxPendingShareBytes must be positive") }
    }
}
