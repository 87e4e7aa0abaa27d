/// BIP340 signatures by the authority key over other things than Noise certificates (e.g. the self-authenticating
/// mining job tokens of a Job Declaration server), and the SHA-256 their digests are built with.
extension AuthorityKeyPair {
    /// BIP340 signature (64 bytes) of a 32-byte `digest`, with fresh auxiliary randomness.
    public func sign(digest: [UInt8]) throws(Sv2NoiseError) -> [UInt8] {
        guard digest.count == 32 else { throw .invalidKey }
        return try Secp256k1.schnorrSign(message: digest, keypair: keypair, auxRand: Secp256k1.randomBytes(32))
    }
}

extension AuthorityPublicKey {
    /// Whether `signature` is a valid BIP340 signature of the 32-byte `digest` under this key.
    public func isValidSignature(_ signature: [UInt8], digest: [UInt8]) -> Bool {
        Secp256k1.schnorrVerify(signature: signature, message: digest, xOnly: xOnly)
    }
}

extension NoiseResponder.Identity {
    /// The authority key pair of a fresh-static-key-per-connection identity (`nil` for a persistent key, whose
    /// authority secret key stays offline).
    public var authorityKeyPair: AuthorityKeyPair? {
        if case .fresh(let authority, _) = kind { return authority }
        return nil
    }
}

/// Single SHA-256 (the digest BIP340 signatures here are made over).
public enum AuthorityDigest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { Secp256k1.sha256(bytes) }
}
