import CCrypto
import CSecp256k1

/// The few libsecp256k1 / ElligatorSwift operations the handshake and certificates need, on
/// 32-byte secret keys, 64-byte EllSwift encodings and 32-byte x-only keys held in `[UInt8]`.
enum Secp256k1 {
    /// Which side of the handshake computes an ECDH (decides whose encoding is decoded).
    enum Party: Int32 { case initiator = 0, responder = 1 }

    static var context: OpaquePointer { cshims_secp_context() }

    static func randomBytes(_ count: Int) throws(Sv2NoiseError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard cshims_random_bytes(&out, count) == 1 else { throw .randomnessUnavailable }
        return out
    }

    /// Fills `buffer` from the kernel CSPRNG in one call.
    static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) throws(Sv2NoiseError) {
        guard cshims_random_bytes(buffer.baseAddress!, buffer.count) == 1 else { throw .randomnessUnavailable }
    }

    /// Whether the 32 bytes at `key` are a valid secret key (non-zero, below the group order).
    static func isValidSecretKey(_ key: UnsafePointer<UInt8>) -> Bool {
        secp256k1_ec_seckey_verify(context, key) == 1
    }

    /// `secretKey·G` of the 32-byte secret key at `secretKey`.
    static func publicKey(secretKey: UnsafePointer<UInt8>) throws(Sv2NoiseError) -> secp256k1_pubkey {
        var pub = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(context, &pub, secretKey) == 1 else { throw .invalidKey }
        return pub
    }

    /// Writes the 64-byte ElligatorSwift encoding of `pub` (see ``ellSwiftEncoding(secretKey:randomness:)``) at `out`.
    static func encode(
        _ pub: inout secp256k1_pubkey, randomness: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<UInt8>
    ) throws(Sv2NoiseError) {
        guard cshims_ellswift_encode(context, out, &pub, randomness) == 1 else { throw .invalidKey }
    }

    /// Writes the 32-byte BIP340 x-only key of `pub` at `out`.
    static func xOnly(_ pub: inout secp256k1_pubkey, into out: UnsafeMutablePointer<UInt8>) {
        var compressed: (UInt64, UInt64, UInt64, UInt64, UInt8) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &compressed) { raw in
            var length = 33
            _ = secp256k1_ec_pubkey_serialize(context, raw.bytes, &length, &pub, UInt32(SECP256K1_EC_COMPRESSED))
            out.update(from: raw.bytes + 1, count: 32)
        }
    }

    /// BIP324 x-only ECDH (as ``ecdh(initiator:responder:peerXOnly:secretKey:)``) on raw pointers into `out`.
    static func ecdh(
        initiator: UnsafePointer<UInt8>, responder: UnsafePointer<UInt8>, peerXOnly: UnsafePointer<UInt8>,
        secretKey: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<UInt8>
    ) throws(Sv2NoiseError) {
        guard cshims_ellswift_xdh_decoded(context, out, initiator, responder, peerXOnly, secretKey) == 1 else {
            throw .invalidKey
        }
    }

    /// BIP340 signature of the 32-byte `message` by the key pair bytes of ``keypair(secretKey:)`` into `out` (64 bytes).
    static func schnorrSign(
        message: UnsafePointer<UInt8>, keypair keypairBytes: [UInt8], auxRand: UnsafePointer<UInt8>,
        into out: UnsafeMutablePointer<UInt8>
    ) throws(Sv2NoiseError) {
        var keypair = secp256k1_keypair()
        guard keypairBytes.count == MemoryLayout<secp256k1_keypair>.size else { throw .invalidKey }
        withUnsafeMutableBytes(of: &keypair) { $0.copyBytes(from: keypairBytes) }
        defer { withUnsafeMutableBytes(of: &keypair) { cshims_cleanse($0.baseAddress!, $0.count) } }
        guard secp256k1_schnorrsig_sign32(context, out, message, &keypair, auxRand) == 1 else { throw .invalidKey }
    }

    static func isValidSecretKey(_ key: [UInt8]) -> Bool {
        key.count == 32 && secp256k1_ec_seckey_verify(context, key) == 1
    }

    /// A uniformly random valid secret key.
    static func generateSecretKey() throws(Sv2NoiseError) -> [UInt8] {
        while true {
            let key = try randomBytes(32)
            if isValidSecretKey(key) { return key }
        }
    }

    private static func publicKey(_ secretKey: [UInt8]) throws(Sv2NoiseError) -> secp256k1_pubkey {
        var pub = secp256k1_pubkey()
        guard secretKey.count == 32, secp256k1_ec_pubkey_create(context, &pub, secretKey) == 1 else {
            throw .invalidKey
        }
        return pub
    }

    /// The 64-byte ElligatorSwift encoding of `secretKey·G`, chosen deterministically from
    /// `randomness` exactly like libsecp256k1 `secp256k1_ellswift_encode`.
    static func ellSwiftEncoding(secretKey: [UInt8], randomness: [UInt8]) throws(Sv2NoiseError) -> [UInt8] {
        precondition(randomness.count == 32)
        var pub = try publicKey(secretKey)
        var out = [UInt8](repeating: 0, count: 64)
        guard cshims_ellswift_encode(context, &out, &pub, randomness) == 1 else { throw .invalidKey }
        return out
    }

    /// The encoding (as ``ellSwiftEncoding(secretKey:randomness:)``) and the BIP340 x-only key of
    /// `secretKey·G`, computing the public key once.
    static func ellSwiftEncodingAndXOnly(
        secretKey: [UInt8], randomness: [UInt8]
    ) throws(Sv2NoiseError) -> (encoding: [UInt8], xOnly: [UInt8]) {
        precondition(randomness.count == 32)
        var pub = try publicKey(secretKey)
        var encoding = [UInt8](repeating: 0, count: 64)
        guard cshims_ellswift_encode(context, &encoding, &pub, randomness) == 1 else { throw .invalidKey }
        return (encoding, xOnly(pub))
    }

    private static func xOnly(_ pub: secp256k1_pubkey) -> [UInt8] {
        var pub = pub
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        _ = secp256k1_ec_pubkey_serialize(context, &out, &length, &pub, UInt32(SECP256K1_EC_COMPRESSED))
        return Array(out[1...])
    }

    /// The x coordinate (32 bytes, big-endian) that a 64-byte encoding stands for; every encoding decodes.
    static func xOnly(ellSwift: [UInt8]) -> [UInt8] {
        precondition(ellSwift.count == 64)
        var x = [UInt8](repeating: 0, count: 32)
        cshims_xswiftec_decode(ellSwift, &x)
        return x
    }

    /// The BIP340 x-only public key of `secretKey`.
    static func xOnlyPublicKey(secretKey: [UInt8]) throws(Sv2NoiseError) -> [UInt8] {
        try xOnly(publicKey(secretKey))
    }

    /// Whether `xOnly` is the x coordinate of a curve point.
    static func isValidXOnly(_ xOnly: [UInt8]) -> Bool {
        var key = secp256k1_xonly_pubkey()
        return xOnly.count == 32 && secp256k1_xonly_pubkey_parse(context, &key, xOnly) == 1
    }

    /// BIP324 x-only ECDH: `TaggedHash("bip324_ellswift_xonly_ecdh", initiator ‖ responder ‖ x)`.
    static func ecdh(
        initiator: [UInt8], responder: [UInt8], secretKey: [UInt8], party: Party
    ) throws(Sv2NoiseError) -> [UInt8] {
        precondition(initiator.count == 64 && responder.count == 64)
        var out = [UInt8](repeating: 0, count: 32)
        guard secretKey.count == 32,
            cshims_ellswift_xdh(context, &out, initiator, responder, secretKey, party.rawValue) == 1
        else { throw .invalidKey }
        return out
    }

    /// Same as ``ecdh(initiator:responder:secretKey:party:)`` with the peer's encoding already
    /// decoded to `peerXOnly` (one decode serves both ECDHs that involve the same peer key).
    static func ecdh(
        initiator: [UInt8], responder: [UInt8], peerXOnly: [UInt8], secretKey: [UInt8]
    ) throws(Sv2NoiseError) -> [UInt8] {
        precondition(initiator.count == 64 && responder.count == 64 && peerXOnly.count == 32)
        var out = [UInt8](repeating: 0, count: 32)
        guard secretKey.count == 32,
            cshims_ellswift_xdh_decoded(context, &out, initiator, responder, peerXOnly, secretKey) == 1
        else { throw .invalidKey }
        return out
    }

    /// The libsecp256k1 key pair (secret key + cached public key, 96 opaque bytes) of `secretKey`,
    /// so that repeated signing skips the public key computation.
    static func keypair(secretKey: [UInt8]) throws(Sv2NoiseError) -> [UInt8] {
        var keypair = secp256k1_keypair()
        guard secretKey.count == 32, secp256k1_keypair_create(context, &keypair, secretKey) == 1 else {
            throw .invalidKey
        }
        return withUnsafeBytes(of: &keypair) { Array($0) }
    }

    /// BIP340 signature of the 32-byte `message` with auxiliary randomness `auxRand`, by the key
    /// pair from ``keypair(secretKey:)``.
    static func schnorrSign(message: [UInt8], keypair keypairBytes: [UInt8], auxRand: [UInt8]) throws(Sv2NoiseError) -> [UInt8] {
        precondition(message.count == 32 && auxRand.count == 32)
        var keypair = secp256k1_keypair()
        guard keypairBytes.count == MemoryLayout<secp256k1_keypair>.size else { throw .invalidKey }
        withUnsafeMutableBytes(of: &keypair) { $0.copyBytes(from: keypairBytes) }
        var signature = [UInt8](repeating: 0, count: 64)
        guard secp256k1_schnorrsig_sign32(context, &signature, message, &keypair, auxRand) == 1 else {
            throw .invalidKey
        }
        return signature
    }

    /// Verifies a BIP340 signature of the 32-byte `message` under the x-only key `xOnly`.
    static func schnorrVerify(signature: [UInt8], message: [UInt8], xOnly: [UInt8]) -> Bool {
        var key = secp256k1_xonly_pubkey()
        guard signature.count == 64, message.count == 32, xOnly.count == 32,
            secp256k1_xonly_pubkey_parse(context, &key, xOnly) == 1
        else { return false }
        return secp256k1_schnorrsig_verify(context, signature, message, 32, &key) == 1
    }

    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        cshims_sha256(data, data.count, &out)
        return out
    }
}
