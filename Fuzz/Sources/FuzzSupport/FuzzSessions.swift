@testable import Sv2Noise

/// Fixed transport keys, so seed inputs can hold valid encrypted frames the fuzzer then mutates.
public enum FuzzKeys {
    /// Key of the direction the fuzz input arrives on.
    public static let inbound = [UInt8](repeating: 0x11, count: 32)
    /// Key of the other direction.
    public static let outbound = [UInt8](repeating: 0x22, count: 32)

    /// The session that reads fuzz input (receive key = `inbound`), nonces at 0.
    public static func receiver() -> NoiseSession { NoiseSession(sendKey: outbound, receiveKey: inbound) }
    /// The session that writes seed inputs (send key = `inbound`), nonces at 0.
    public static func sender() -> NoiseSession { NoiseSession(sendKey: inbound, receiveKey: outbound) }
}

/// A persistent responder identity made once per process (handshake targets).
public let fuzzAuthority = try! AuthorityKeyPair.generate()
/// A persistent static key with a long-valid certificate.
public let fuzzIdentity = try! NoiseResponder.Identity.makePersistent(
    authority: fuzzAuthority, validFrom: 0, notValidAfter: .max)
