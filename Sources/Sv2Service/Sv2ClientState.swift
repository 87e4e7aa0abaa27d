/// Where an `Sv2Client` is.
public enum Sv2ClientState: Equatable, Sendable, CustomStringConvertible {
    /// Not started, or finished.
    case idle
    /// TCP connect in progress.
    case connecting
    /// Noise handshake in progress.
    case handshaking
    /// SetupConnection sent, waiting for the answer.
    case settingUp
    /// Set up; `flags` are the server's `SetupConnection.Success` flags.
    case ready(usedVersion: UInt16, flags: UInt32)
    /// Closed; `reason` says why.
    case closed(Sv2CloseReason)

    public var description: String {
        switch self {
        case .idle: "idle"
        case .connecting: "connecting"
        case .handshaking: "handshaking"
        case .settingUp: "setting up"
        case .ready(let version, let flags): "ready (v\(version), flags 0x\(String(flags, radix: 16)))"
        case .closed(let reason): "closed: \(reason)"
        }
    }
}
