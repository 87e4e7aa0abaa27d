import CCrypto
import CSecp256k1

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

    /// Key material a handshake draws at random; injectable for reproducible vectors. Held inline: a handshake
    /// allocates nothing.
    struct Secrets {
        var ephemeralSecretKey = Bytes32()
        /// Used only with ``Identity/freshStaticKeyPerConnection(authority:certificateValidity:)``,
        /// as is `staticEncodingRandomness`.
        var staticSecretKey = Bytes32()
        var ephemeralEncodingRandomness = Bytes32()
        var staticEncodingRandomness = Bytes32()
        var signatureAuxRand = Bytes32()

        fileprivate init() {}

        /// Given values (tests); an empty array stands for an unused value (zeros).
        init(
            ephemeralSecretKey: [UInt8], staticSecretKey: [UInt8], ephemeralEncodingRandomness: [UInt8],
            staticEncodingRandomness: [UInt8], signatureAuxRand: [UInt8]
        ) {
            self.ephemeralSecretKey = Bytes32(ephemeralSecretKey)
            self.staticSecretKey = Bytes32(staticSecretKey)
            self.ephemeralEncodingRandomness = Bytes32(ephemeralEncodingRandomness)
            self.staticEncodingRandomness = Bytes32(staticEncodingRandomness)
            self.signatureAuxRand = Bytes32(signatureAuxRand)
        }

        /// All five values from one getrandom call; a secret key that is not valid (zero or at least the group
        /// order: probability about 2^-128) is drawn again.
        static func random() throws(Sv2NoiseError) -> Secrets {
            var secrets = Secrets()
            var pool = InlineArray<160, UInt8>(repeating: 0)
            try withUnsafeMutableBytes(of: &pool) { (raw) throws(Sv2NoiseError) in
                try Secp256k1.fillRandom(raw)
                secrets.ephemeralSecretKey.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<32])) }
                secrets.staticSecretKey.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[32..<64])) }
                secrets.ephemeralEncodingRandomness.withUnsafeMutableBytes {
                    $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[64..<96]))
                }
                secrets.staticEncodingRandomness.withUnsafeMutableBytes {
                    $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[96..<128]))
                }
                secrets.signatureAuxRand.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[128..<160])) }
                cshims_cleanse(raw.baseAddress!, raw.count)
            }
            try secrets.ephemeralSecretKey.redrawUntilValidSecretKey()
            try secrets.staticSecretKey.redrawUntilValidSecretKey()
            return secrets
        }
    }

    private let identity: Identity
    private var secrets: Secrets
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
    ///
    /// Allocates nothing: keys, hashes and encodings live on the stack or inline, and act 2 is assembled in
    /// `buffer` in place (the static key and the certificate are written there and encrypted where they lie).
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
        defer { secrets = Secrets() }  // the secrets serve one handshake only
        state.mixHash(message)
        state.mixHash(UnsafeRawBufferPointer(start: nil, count: 0))

        let remoteEphemeral = message.bytes
        let ephemeralPart = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<64])
        let staticPart = UnsafeMutableRawBufferPointer(rebasing: buffer[64..<144])
        let certificatePart = UnsafeMutableRawBufferPointer(rebasing: buffer[144..<234])
        // Both ECDHs multiply the initiator's ephemeral key: decode it once.
        var remoteX = Bytes32()
        remoteX.withUnsafeMutableBytes { cshims_xswiftec_decode(remoteEphemeral, $0.bytes) }
        var sharedSecret = Bytes32()
        defer { sharedSecret.withUnsafeMutableBytes { cshims_cleanse($0.baseAddress!, 32) } }

        // e: the ephemeral encoding goes straight into act 2.
        try secrets.ephemeralSecretKey.withUnsafeBytes { (key) throws(Sv2NoiseError) in
            var pub = try Secp256k1.publicKey(secretKey: key.bytes)
            try secrets.ephemeralEncodingRandomness.withUnsafeBytes { (rnd) throws(Sv2NoiseError) in
                try Secp256k1.encode(&pub, randomness: rnd.bytes, into: ephemeralPart.bytes)
            }
        }
        state.mixHash(UnsafeRawBufferPointer(ephemeralPart))
        // ee
        try computeECDH(
            remoteEphemeral, responder: ephemeralPart.bytes, remoteX: remoteX, secretKey: secrets.ephemeralSecretKey,
            into: &sharedSecret)
        state.mixKey(sharedSecret)

        // s: the static encoding (and for a fresh key, the certificate) is written in place, then es is computed
        // from the plaintext encoding before EncryptAndHash overwrites it.
        switch identity.kind {
        case .fresh(let authority, let validity):
            try secrets.staticSecretKey.withUnsafeBytes { (key) throws(Sv2NoiseError) in
                var pub = try Secp256k1.publicKey(secretKey: key.bytes)
                try secrets.staticEncodingRandomness.withUnsafeBytes { (rnd) throws(Sv2NoiseError) in
                    try Secp256k1.encode(&pub, randomness: rnd.bytes, into: staticPart.bytes)
                }
                var xOnly = Bytes32()
                xOnly.withUnsafeMutableBytes { Secp256k1.xOnly(&pub, into: $0.bytes) }
                let from = UInt32(clamping: now ?? NoiseClock.now())
                let (until, overflow) = from.addingReportingOverflow(validity)
                try xOnly.withUnsafeBytes { (x) throws(Sv2NoiseError) in
                    try secrets.signatureAuxRand.withUnsafeBytes { (aux) throws(Sv2NoiseError) in
                        try Sv2Certificate.writeSigned(
                            validFrom: from, notValidAfter: overflow ? .max : until, serverStaticXOnly: x.bytes,
                            authority: authority, auxRand: aux.bytes, into: certificatePart)
                    }
                }
            }
            try computeECDH(
                remoteEphemeral, responder: staticPart.bytes, remoteX: remoteX, secretKey: secrets.staticSecretKey,
                into: &sharedSecret)
        case .persistent(let secretKey, let encoding, let certificate):
            staticPart.copyBytes(from: encoding)
            certificate.encode(into: certificatePart)
            guard secretKey.count == 32 else { throw .invalidKey }
            let ok = secretKey.withUnsafeBytes { key in
                sharedSecret.withUnsafeMutableBytes { out in
                    remoteX.withUnsafeBytes { x in
                        cshims_ellswift_xdh_decoded(
                            Secp256k1.context, out.bytes, remoteEphemeral, staticPart.bytes, x.bytes, key.bytes)
                    }
                }
            }
            guard ok == 1 else { throw .invalidKey }
        }
        _ = try state.encryptAndHash(staticPart, plaintextLength: 64)
        // es
        state.mixKey(sharedSecret)
        // SIGNATURE_NOISE_MESSAGE
        _ = try state.encryptAndHash(certificatePart, plaintextLength: Sv2Certificate.encodedSize)

        let keys = state.splitKeys()
        return NoiseSession(sendKey: keys.responderToInitiator, receiveKey: keys.initiatorToResponder)
    }

    /// BIP324 x-only ECDH of the initiator's ephemeral key (already decoded to `remoteX`) with `secretKey`, whose
    /// encoding is at `responder`.
    private func computeECDH(
        _ initiator: UnsafePointer<UInt8>, responder: UnsafePointer<UInt8>, remoteX: Bytes32, secretKey: Bytes32,
        into out: inout Bytes32
    ) throws(Sv2NoiseError) {
        try out.withUnsafeMutableBytes { (o) throws(Sv2NoiseError) in
            try remoteX.withUnsafeBytes { (x) throws(Sv2NoiseError) in
                try secretKey.withUnsafeBytes { (key) throws(Sv2NoiseError) in
                    try Secp256k1.ecdh(initiator: initiator, responder: responder, peerXOnly: x.bytes, secretKey: key.bytes, into: o.bytes)
                }
            }
        }
    }
}

extension Bytes32 {
    /// Replaces these bytes with fresh random ones until they are a valid secret key.
    mutating func redrawUntilValidSecretKey() throws(Sv2NoiseError) {
        try withUnsafeMutableBytes { (raw) throws(Sv2NoiseError) in
            while !Secp256k1.isValidSecretKey(UnsafePointer(raw.bytes)) { try Secp256k1.fillRandom(raw) }
        }
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
