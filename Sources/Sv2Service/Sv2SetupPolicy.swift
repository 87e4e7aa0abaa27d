/// How a server answers `SetupConnection` for one subprotocol.
public struct Sv2SetupPolicy: Sendable, Equatable {
    /// Request flags this server can honour; any other requested flag gets `unsupported-feature-flags`.
    public var acceptedFlags: UInt32
    /// Flags sent back in `SetupConnection.Success` (e.g. `Sv2SetupFlags.MiningSuccess.requiresExtendedChannels`).
    public var successFlags: UInt32

    /// Creates a policy.
    public init(acceptedFlags: UInt32, successFlags: UInt32 = 0) {
        self.acceptedFlags = acceptedFlags
        self.successFlags = successFlags
    }

    /// Mining: standard jobs, work selection and version rolling are all acceptable requests.
    public static let mining = Sv2SetupPolicy(acceptedFlags: 0b111)
    /// Job Declaration: coinbase-only and full-template modes.
    public static let jobDeclaration = Sv2SetupPolicy(acceptedFlags: 0b1)
    /// Template Distribution has no flags.
    public static let templateDistribution = Sv2SetupPolicy(acceptedFlags: 0)
}
