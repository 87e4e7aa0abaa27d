/// The client (downstream) side of the Sv2 Noise NX handshake, as a byte-in/byte-out state machine.
///
/// ```
/// var initiator = try NoiseInitiator(authorityKey: key)
/// try initiator.writeActOne(into: out)          // send 64 bytes
/// let session = try initiator.readActTwo(act2)  // after receiving 234 bytes
/// ```
public struct NoiseInitiator {
    /// Size of the message this side sends.
    public static let actOneSize = NoiseHandshakeState.actOneSize
    /// Size of the message this side receives.
    public static let actTwoSize = NoiseHandshakeState.actTwoSize

    private enum Stage { case start, waitingForActTwo, done }

    private let authorityKey: AuthorityPublicKey?
    private let ephemeralSecretKey: [UInt8]
    private let ephemeralEncoding: [UInt8]
    private var stage = Stage.start
    private(set) var state = NoiseHandshakeState()
    /// The certificate the responder presented (set once act 2 was read).
    public private(set) var responderCertificate: Sv2Certificate?
    /// The responder's static x-only key (set once act 2 was read).
    public private(set) var responderStaticKey: [UInt8]?

    /// Prepares a handshake with a fresh ephemeral key.
    ///
    /// - Parameter authorityKey: the pool's authority key; `nil` skips certificate verification
    ///   entirely (as SRI does), which only makes sense on a trusted network.
    public init(authorityKey: AuthorityPublicKey?) throws(Sv2NoiseError) {
        try self.init(
            authorityKey: authorityKey, ephemeralSecretKey: Secp256k1.generateSecretKey(),
            encodingRandomness: Secp256k1.randomBytes(32))
    }

    /// Injectable key material, for reproducible vectors.
    init(authorityKey: AuthorityPublicKey?, ephemeralSecretKey: [UInt8], encodingRandomness: [UInt8]) throws(Sv2NoiseError) {
        self.authorityKey = authorityKey
        self.ephemeralSecretKey = ephemeralSecretKey
        ephemeralEncoding = try Secp256k1.ellSwiftEncoding(secretKey: ephemeralSecretKey, randomness: encodingRandomness)
    }

    /// Act 1 (`-> e`): writes the 64-byte ephemeral EllSwift encoding at the start of `buffer`.
    public mutating func writeActOne(into buffer: UnsafeMutableRawBufferPointer) throws(Sv2NoiseError) {
        guard stage == .start else { throw .outOfOrder }
        guard buffer.count >= Self.actOneSize else {
            throw .wrongMessageSize(expected: Self.actOneSize, got: buffer.count)
        }
        buffer.copyBytes(from: ephemeralEncoding)
        state.mixHash(ephemeralEncoding)
        // EncryptAndHash of the empty payload without a key is MixHash([]).
        state.mixHash([])
        stage = .waitingForActTwo
    }

    /// Act 2 (`<- e, ee, s, es, SIGNATURE_NOISE_MESSAGE`): reads the responder's 234 bytes, checks
    /// the certificate at unix time `now` (default: the system clock; unless no authority key was given) and returns the session.
    public mutating func readActTwo(
        _ message: UnsafeRawBufferPointer, now: UInt64? = nil
    ) throws(Sv2NoiseError) -> NoiseSession {
        guard stage == .waitingForActTwo else { throw .outOfOrder }
        guard message.count == Self.actTwoSize else {
            throw .wrongMessageSize(expected: Self.actTwoSize, got: message.count)
        }
        stage = .done  // any failure below ends the handshake
        var bytes = Array(message)
        let remoteEphemeral = Array(bytes[0..<64])
        state.mixHash(remoteEphemeral)
        try state.mixKey(Secp256k1.ecdh(
            initiator: ephemeralEncoding, responder: remoteEphemeral, secretKey: ephemeralSecretKey, party: .initiator))
        let remoteStatic = try bytes.withUnsafeMutableBytes { raw in
            let part = UnsafeMutableRawBufferPointer(rebasing: raw[64..<144])
            return Result { () throws(Sv2NoiseError) in
                _ = try state.decryptAndHash(part, messageLength: 80)
                return Array(part[0..<64])
            }
        }.get()
        // The static key's x serves both the ECDH and the certificate check: decode it once.
        let staticXOnly = Secp256k1.xOnly(ellSwift: remoteStatic)
        try state.mixKey(Secp256k1.ecdh(
            initiator: ephemeralEncoding, responder: remoteStatic, peerXOnly: staticXOnly, secretKey: ephemeralSecretKey))
        let certificate = try bytes.withUnsafeMutableBytes { raw in
            let part = UnsafeMutableRawBufferPointer(rebasing: raw[144..<234])
            return Result { () throws(Sv2NoiseError) in
                let length = try state.decryptAndHash(part, messageLength: 90)
                return try Sv2Certificate(decoding: UnsafeRawBufferPointer(rebasing: part[0..<length]))
            }
        }.get()
        if let authorityKey {
            try certificate.verify(serverStaticXOnly: staticXOnly, authorityKey: authorityKey, now: now ?? NoiseClock.now())
        }
        responderCertificate = certificate
        responderStaticKey = staticXOnly
        let keys = state.splitKeys()
        return NoiseSession(sendKey: keys.initiatorToResponder, receiveKey: keys.responderToInitiator)
    }
}
