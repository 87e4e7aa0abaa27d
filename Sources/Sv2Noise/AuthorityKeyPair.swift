/// The pool authority's signing key: signs the certificates responders present.
///
/// The secret key's text form (as in SRI configs) is base58check of the 32 raw bytes, no prefix.
public struct AuthorityKeyPair: Sendable {
    /// The 32-byte secret key.
    public let secretKey: [UInt8]
    /// The matching public key, to hand to clients.
    public let publicKey: AuthorityPublicKey
    /// libsecp256k1 key pair bytes, so that signing a certificate per connection skips `k·G`.
    let keypair: [UInt8]

    /// Wraps a 32-byte secret key; throws ``Sv2NoiseError/invalidKey`` if it is zero or ≥ the group order.
    public init(secretKey: [UInt8]) throws(Sv2NoiseError) {
        guard Secp256k1.isValidSecretKey(secretKey) else { throw .invalidKey }
        self.secretKey = secretKey
        publicKey = try AuthorityPublicKey(xOnly: Secp256k1.xOnlyPublicKey(secretKey: secretKey))
        keypair = try Secp256k1.keypair(secretKey: secretKey)
    }

    /// Parses the base58check text form of the secret key.
    public init(secretKeyBase58Check text: String) throws(Sv2NoiseError) {
        guard let payload = Base58Check.decode(text), payload.count == 32 else { throw .invalidKey }
        try self.init(secretKey: payload)
    }

    /// A fresh key pair from the kernel CSPRNG (getrandom).
    public static func generate() throws(Sv2NoiseError) -> AuthorityKeyPair {
        try AuthorityKeyPair(secretKey: Secp256k1.generateSecretKey())
    }

    /// The base58check text form of the secret key (keep it secret).
    public var secretKeyBase58Check: String { Base58Check.encode(secretKey) }
}

// The secret never reaches a log line, a test failure message or a `dump` through the default reflection.
extension AuthorityKeyPair: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The public key only; the secret is redacted.
    public var description: String { "AuthorityKeyPair(public: \(publicKey), secret: <redacted>)" }
    /// Same as ``description``.
    public var debugDescription: String { description }
    /// Shows the public key only.
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": publicKey, "secretKey": "<redacted>"]) }
}
