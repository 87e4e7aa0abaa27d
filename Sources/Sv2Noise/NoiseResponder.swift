/// The server (upstream) side of the Sv2 Noise NX handshake: consumes act 1, produces act 2.
///
/// ```
/// var responder = try NoiseResponder(identity: identity)
/// let session = try responder.respond(toActOne: act1, into: out)  // send out[0..<234]
/// ```
public struct NoiseResponder {
    /// Size of the message this side receives.
    public static let actOneSize = NoiseHandshakeState.actOneSize
    /// Size of the message this side sends.
    public static let actTwoSize = NoiseHandshakeState.actTwoSize

    /// How the responder proves it speaks for the pool authority.
    public struct Identity: Sendable {
        enum Kind {
            case fresh(authority: AuthorityKeyPair, certificateValidity: UInt32)
            /// The static key's encoding is computed once: it only ever travels encrypted.
            case persistent(secretKey: [UInt8], encoding: [UInt8], certificate: Sv2Certificate)
        }

        let kind: Kind

        /// SRI style: a fresh static key per connection, with a certificate signed on the spot,
        /// valid from the handshake time for `certificateValidity` seconds.
        public static func freshStaticKeyPerConnection(authority: AuthorityKeyPair, certificateValidity: UInt32) -> Identity {
            Identity(kind: .fresh(authority: authority, certificateValidity: certificateValidity))
        }

        /// sv2-tp style: a long-lived static secret key (32 bytes) and a certificate made for it
        /// beforehand (see ``makePersistent(authority:validFrom:notValidAfter:)``).
        public static func persistentStaticKey(secretKey: [UInt8], certificate: Sv2Certificate) throws(Sv2NoiseError) -> Identity {
            try persistentStaticKey(secretKey: secretKey, certificate: certificate, encodingRandomness: Secp256k1.randomBytes(32))
        }

        static func persistentStaticKey(
            secretKey: [UInt8], certificate: Sv2Certificate, encodingRandomness: [UInt8]
        ) throws(Sv2NoiseError) -> Identity {
            let encoding = try Secp256k1.ellSwiftEncoding(secretKey: secretKey, randomness: encodingRandomness)
            return Identity(kind: .persistent(secretKey: secretKey, encoding: encoding, certificate: certificate))
        }

        /// The long-lived static secret key of a persistent identity (`nil` for fresh-per-connection keys).
        public var persistentSecretKey: [UInt8]? {
            if case .persistent(let secretKey, _, _) = kind { return secretKey }
            return nil
        }

        /// The certificate of a persistent identity (`nil` for fresh-per-connection keys).
        public var persistentCertificate: Sv2Certificate? {
            if case .persistent(_, _, let certificate) = kind { return certificate }
            return nil
        }

        /// A new persistent static key with a certificate signed by `authority`.
        public static func makePersistent(
            authority: AuthorityKeyPair, validFrom: UInt32, notValidAfter: UInt32
        ) throws(Sv2NoiseError) -> Identity {
            let secretKey = try Secp256k1.generateSecretKey()
            var certificate = Sv2Certificate(validFrom: validFrom, notValidAfter: notValidAfter)
            try certificate.sign(serverStaticXOnly: Secp256k1.xOnlyPublicKey(secretKey: secretKey), authority: authority)
            return try persistentStaticKey(secretKey: secretKey, certificate: certificate)
        }
    }

    /// Key material a handshake draws at random; injectable for reproducible vectors.
    struct Secrets {
        var ephemeralSecretKey: [UInt8]
        /// Used only with ``Identity/freshStaticKeyPerConnection(authority:certificateValidity:)``,
        /// as is `staticEncodingRandomness`.
        var staticSecretKey: [UInt8]
        var ephemeralEncodingRandomness: [UInt8]
        var staticEncodingRandomness: [UInt8]
        var signatureAuxRand: [UInt8]

        static func random() throws(Sv2NoiseError) -> Secrets {
            try Secrets(
                ephemeralSecretKey: Secp256k1.generateSecretKey(), staticSecretKey: Secp256k1.generateSecretKey(),
                ephemeralEncodingRandomness: Secp256k1.randomBytes(32),
                staticEncodingRandomness: Secp256k1.randomBytes(32), signatureAuxRand: Secp256k1.randomBytes(32))
        }
    }

    private let identity: Identity
    private let secrets: Secrets
    private var done = false
    private(set) var state = NoiseHandshakeState()

    /// Prepares one handshake (one connection) with fresh random key material.
    public init(identity: Identity) throws(Sv2NoiseError) {
        try self.init(identity: identity, secrets: .random())
    }

    init(identity: Identity, secrets: Secrets) {
        self.identity = identity
        self.secrets = secrets
    }

    /// Reads the initiator's 64-byte act 1, writes the 234-byte act 2 at the start of `buffer`
    /// and returns the session. `now` (unix seconds,
    /// default: the system clock) dates a per-connection certificate.
    public mutating func respond(
        toActOne message: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer,
        now: UInt64? = nil
    ) throws(Sv2NoiseError) -> NoiseSession {
        guard !done else { throw .outOfOrder }
        guard message.count == Self.actOneSize else {
            throw .wrongMessageSize(expected: Self.actOneSize, got: message.count)
        }
        guard buffer.count >= Self.actTwoSize else {
            throw .wrongMessageSize(expected: Self.actTwoSize, got: buffer.count)
        }
        done = true
        let remoteEphemeral = Array(message)
        state.mixHash(remoteEphemeral)
        state.mixHash([])

        let staticSecretKey: [UInt8], staticEncoding: [UInt8]
        var certificate: Sv2Certificate
        switch identity.kind {
        case .fresh(let authority, let validity):
            staticSecretKey = secrets.staticSecretKey
            let staticKey = try Secp256k1.ellSwiftEncodingAndXOnly(
                secretKey: staticSecretKey, randomness: secrets.staticEncodingRandomness)
            staticEncoding = staticKey.encoding
            let from = UInt32(clamping: now ?? NoiseClock.now())
            let (until, overflow) = from.addingReportingOverflow(validity)
            certificate = Sv2Certificate(validFrom: from, notValidAfter: overflow ? .max : until)
            try certificate.sign(serverStaticXOnly: staticKey.xOnly, authority: authority, auxRand: secrets.signatureAuxRand)
        case .persistent(let secretKey, let encoding, let cert):
            staticSecretKey = secretKey
            staticEncoding = encoding
            certificate = cert
        }
        let ephemeralEncoding = try Secp256k1.ellSwiftEncoding(
            secretKey: secrets.ephemeralSecretKey, randomness: secrets.ephemeralEncodingRandomness)
        // Both ECDHs multiply the initiator's ephemeral key: decode it once.
        let remoteX = Secp256k1.xOnly(ellSwift: remoteEphemeral)

        // e
        buffer.copyBytes(from: ephemeralEncoding)
        state.mixHash(ephemeralEncoding)
        // ee
        try state.mixKey(Secp256k1.ecdh(
            initiator: remoteEphemeral, responder: ephemeralEncoding, peerXOnly: remoteX,
            secretKey: secrets.ephemeralSecretKey))
        // s
        let staticPart = UnsafeMutableRawBufferPointer(rebasing: buffer[64..<144])
        staticPart.copyBytes(from: staticEncoding)
        _ = try state.encryptAndHash(staticPart, plaintextLength: 64)
        // es
        try state.mixKey(Secp256k1.ecdh(
            initiator: remoteEphemeral, responder: staticEncoding, peerXOnly: remoteX, secretKey: staticSecretKey))
        // SIGNATURE_NOISE_MESSAGE
        let certificatePart = UnsafeMutableRawBufferPointer(rebasing: buffer[144..<234])
        certificate.encode(into: certificatePart)
        _ = try state.encryptAndHash(certificatePart, plaintextLength: Sv2Certificate.encodedSize)

        let keys = state.split()
        return NoiseSession(sendKey: keys.responderToInitiator, receiveKey: keys.initiatorToResponder)
    }
}

// Secret keys never reach a log line, a test failure message or a `dump` through the default reflection.
extension NoiseResponder.Identity: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// What kind of identity, with public parts only.
    public var description: String {
        switch kind {
        case .fresh(let authority, let validity):
            "Identity(fresh static key per connection, authority \(authority.publicKey), certificates valid \(validity) s)"
        case .persistent(_, _, let certificate):
            "Identity(persistent static key <redacted>, certificate valid \(certificate.validFrom)...\(certificate.notValidAfter))"
        }
    }
    /// Same as ``description``.
    public var debugDescription: String { description }
    /// The description only.
    public var customMirror: Mirror { Mirror(self, children: ["identity": description]) }
}
