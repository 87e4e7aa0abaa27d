import CCrypto

/// The responder's certificate (SIGNATURE_NOISE_MESSAGE, 74 bytes): the authority's BIP340
/// signature over the responder's static key and a validity window.
///
/// Wire layout (little-endian): `version u16 ‖ valid_from u32 ‖ not_valid_after u32 ‖ signature[64]`.
/// Signed message: `SHA256(version ‖ valid_from ‖ not_valid_after ‖ server_static_xonly32)`.
public struct Sv2Certificate: Hashable, Sendable {
    /// Encoded size in bytes.
    public static let encodedSize = 74
    /// Clock skew tolerated on both ends of the validity window, in seconds (as SRI).
    public static let timeLeeway: UInt64 = 10

    /// Certificate format version; only 0 exists.
    public var version: UInt16
    /// Start of validity, unix seconds.
    public var validFrom: UInt32
    /// End of validity, unix seconds.
    public var notValidAfter: UInt32
    /// BIP340 signature (64 bytes); all zero until ``sign(serverStaticXOnly:authority:auxRand:)``.
    public var signature: [UInt8]

    /// A certificate with the given fields; `signature` defaults to 64 zero bytes (unsigned).
    public init(version: UInt16 = 0, validFrom: UInt32, notValidAfter: UInt32, signature: [UInt8] = .init(repeating: 0, count: 64)) {
        precondition(signature.count == 64, "signature must be 64 bytes")
        self.version = version
        self.validFrom = validFrom
        self.notValidAfter = notValidAfter
        self.signature = signature
    }

    /// Decodes the 74-byte wire form.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(Sv2NoiseError) {
        guard bytes.count == Self.encodedSize else {
            throw .wrongMessageSize(expected: Self.encodedSize, got: bytes.count)
        }
        version = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
        validFrom = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        notValidAfter = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt32.self))
        signature = Array(bytes[10..<74])
    }

    /// Writes the 74-byte wire form at the start of `buffer`.
    public func encode(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.encodedSize, "buffer too small")
        buffer.storeBytes(of: version.littleEndian, toByteOffset: 0, as: UInt16.self)
        buffer.storeBytes(of: validFrom.littleEndian, toByteOffset: 2, as: UInt32.self)
        buffer.storeBytes(of: notValidAfter.littleEndian, toByteOffset: 6, as: UInt32.self)
        UnsafeMutableRawBufferPointer(rebasing: buffer[10..<74]).copyBytes(from: signature)
    }

    /// The 74-byte wire form.
    public var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.encodedSize)
        out.withUnsafeMutableBytes { encode(into: $0) }
        return out
    }

    /// Writes the wire form of a version-0 certificate for the 32-byte x-only key at `serverStaticXOnly`, signed by
    /// `authority` with the 32 bytes of `auxRand`, at the start of `buffer` — what ``sign(serverStaticXOnly:authority:auxRand:)``
    /// then ``encode(into:)`` produce, without the value's signature array (a responder's per-connection certificate).
    static func writeSigned(
        validFrom: UInt32, notValidAfter: UInt32, serverStaticXOnly: UnsafePointer<UInt8>, authority: AuthorityKeyPair,
        auxRand: UnsafePointer<UInt8>, into buffer: UnsafeMutableRawBufferPointer
    ) throws(Sv2NoiseError) {
        precondition(buffer.count >= encodedSize, "buffer too small")
        buffer.storeBytes(of: UInt16(0).littleEndian, toByteOffset: 0, as: UInt16.self)
        buffer.storeBytes(of: validFrom.littleEndian, toByteOffset: 2, as: UInt32.self)
        buffer.storeBytes(of: notValidAfter.littleEndian, toByteOffset: 6, as: UInt32.self)
        // The signed message starts with the same 10 bytes as the wire form.
        var message = Bytes32()
        message.withUnsafeMutableBytes { cshims_sha256_concat(buffer.baseAddress!, 10, serverStaticXOnly, 32, $0.bytes) }
        try message.withUnsafeBytes { (m) throws(Sv2NoiseError) in
            try Secp256k1.schnorrSign(message: m.bytes, keypair: authority.keypair, auxRand: auxRand, into: buffer.bytes + 10)
        }
    }

    /// The 32-byte hash the authority signs for the given responder static key.
    func signedMessage(serverStaticXOnly: [UInt8]) -> [UInt8] {
        precondition(serverStaticXOnly.count == 32, "x-only key must be 32 bytes")
        var data = [UInt8]()
        data.reserveCapacity(42)
        withUnsafeBytes(of: version.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: validFrom.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: notValidAfter.littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: serverStaticXOnly)
        return Secp256k1.sha256(data)
    }

    /// Signs the certificate for the responder static key `serverStaticXOnly` (32 bytes).
    ///
    /// - Parameters:
    ///   - serverStaticXOnly: the responder's static public key, x-only (32 bytes).
    ///   - authority: the authority key pair that signs.
    ///   - auxRand: BIP340 auxiliary randomness; `nil` draws 32 fresh random bytes.
    public mutating func sign(
        serverStaticXOnly: [UInt8], authority: AuthorityKeyPair, auxRand: [UInt8]? = nil
    ) throws(Sv2NoiseError) {
        let aux: [UInt8]
        if let auxRand { aux = auxRand } else { aux = try Secp256k1.randomBytes(32) }
        signature = try Secp256k1.schnorrSign(
            message: signedMessage(serverStaticXOnly: serverStaticXOnly), keypair: authority.keypair, auxRand: aux)
    }

    /// Checks version, signature and validity window (±``timeLeeway``) at unix time `now`.
    public func verify(serverStaticXOnly: [UInt8], authorityKey: AuthorityPublicKey, now: UInt64) throws(Sv2NoiseError) {
        guard version == 0 else { throw .unsupportedCertificateVersion(version) }
        guard Secp256k1.schnorrVerify(
            signature: signature, message: signedMessage(serverStaticXOnly: serverStaticXOnly),
            xOnly: authorityKey.xOnly)
        else { throw .badCertificateSignature }
        guard now + Self.timeLeeway >= UInt64(validFrom) else {
            throw .certificateNotYetValid(validFrom: validFrom, now: now)
        }
        guard now <= UInt64(notValidAfter) + Self.timeLeeway else {
            throw .certificateExpired(notValidAfter: notValidAfter, now: now)
        }
    }
}
