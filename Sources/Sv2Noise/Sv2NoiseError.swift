/// Why a Noise handshake or an encrypted frame was rejected.
///
/// The cases carry enough context for logs; what the peer sees is only the closed connection.
public enum Sv2NoiseError: Error, Equatable, Sendable {
    /// A Poly1305 tag did not verify (tampered, truncated or mis-keyed message).
    case badMAC
    /// The certificate's Schnorr signature does not verify under the authority key.
    case badCertificateSignature
    /// The certificate's `validFrom` is more than the allowed leeway in the future.
    case certificateNotYetValid(validFrom: UInt32, now: UInt64)
    /// The certificate's `notValidAfter` is more than the allowed leeway in the past.
    case certificateExpired(notValidAfter: UInt32, now: UInt64)
    /// The certificate carries a version other than 0.
    case unsupportedCertificateVersion(UInt16)
    /// A handshake message or a buffer had the wrong size.
    case wrongMessageSize(expected: Int, got: Int)
    /// A secret or public key (or its base58check text form) is malformed or out of range.
    case invalidKey
    /// A handshake step was called out of order (e.g. twice, or before the previous act).
    case outOfOrder
    /// The 64-bit nonce of one direction is used up (Noise reserves 2^64 − 1); reconnect.
    case nonceExhausted
    /// The system random number generator failed.
    case randomnessUnavailable
}
