/// Feature flags of `SetupConnection` / `SetupConnection.Success`, per subprotocol (bit 0 = 0x1).
public enum Sv2SetupFlags {
    /// Mining protocol, in `SetupConnection`.
    public enum Mining {
        /// The downstream only accepts standard jobs (no extended/group channels).
        public static let requiresStandardJobs: UInt32 = 1 << 0
        /// The downstream will send `SetCustomMiningJob` (work selection).
        public static let requiresWorkSelection: UInt32 = 1 << 1
        /// The downstream needs version rolling.
        public static let requiresVersionRolling: UInt32 = 1 << 2
    }

    /// Mining protocol, in `SetupConnection.Success`.
    public enum MiningSuccess {
        /// The upstream does not allow version rolling.
        public static let requiresFixedVersion: UInt32 = 1 << 0
        /// The upstream only opens extended channels.
        public static let requiresExtendedChannels: UInt32 = 1 << 1
    }

    /// Job Declaration protocol, in `SetupConnection`.
    public enum JobDeclaration {
        /// Full-Template mode: the client declares transaction data.
        public static let declareTxData: UInt32 = 1 << 0
    }
}

extension SetupConnection {
    /// The requested subprotocol, if `protocolID` names a known one.
    public var sv2Protocol: Sv2Protocol? { Sv2Protocol(rawValue: protocolID) }
}

extension SetupConnectionView {
    /// The requested subprotocol, if `protocolID` names a known one.
    public var sv2Protocol: Sv2Protocol? { Sv2Protocol(rawValue: protocolID) }
}
