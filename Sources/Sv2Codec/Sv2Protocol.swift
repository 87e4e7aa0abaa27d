/// The Sv2 subprotocols a connection can be set up for (`SetupConnection.protocol`).
public enum Sv2Protocol: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Mining protocol (channels, jobs, shares).
    case mining = 0
    /// Job Declaration protocol (custom work negotiated with a pool).
    case jobDeclaration = 1
    /// Template Distribution protocol (block templates from a Template Provider).
    case templateDistribution = 2

    public var description: String {
        switch self {
        case .mining: "mining"
        case .jobDeclaration: "job-declaration"
        case .templateDistribution: "template-distribution"
        }
    }
}

/// Error codes of `SetupConnection.Error`, as the spec and SRI spell them.
public enum Sv2SetupErrorCode {
    /// The requested flags are not supported (the error's `flags` field lists them).
    public static let unsupportedFeatureFlags = "unsupported-feature-flags"
    /// The requested subprotocol is not served here.
    public static let unsupportedProtocol = "unsupported-protocol"
    /// No protocol version in the requested range is served here.
    public static let protocolVersionMismatch = "protocol-version-mismatch"
    /// Job Declaration requires the DECLARE_TX_DATA flag on this server.
    public static let missingDeclareTxDataFlag = "missing-declare-tx-data-flag"
}
