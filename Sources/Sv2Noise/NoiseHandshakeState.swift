import CCrypto

/// Noise symmetric state for `Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256`: chaining key `ck`,
/// handshake hash `h` and the optional cipher key `k` with its nonce `n`.
///
/// Everything is held inline (no heap allocation): the keys and hashes in ``Bytes32``s, the cipher as the C fast
/// path's prepared key (the handshake's two AEAD messages are 80 and 90 bytes).
struct NoiseHandshakeState {
    static let protocolName = "Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256"
    /// Act 1: the initiator's ephemeral EllSwift encoding.
    static let actOneSize = 64
    /// Act 2: `ell_e_r ‖ enc(ell_s_r) ‖ enc(certificate)` = 64 + 80 + 90.
    static let actTwoSize = 234

    /// `ck = SHA256(protocolName)`, `h = SHA256(ck)`: the same for every handshake, so computed once.
    private static let initial: (ck: Bytes32, h: Bytes32) = {
        var ck = Bytes32(), h = Bytes32()
        let name = Array(protocolName.utf8)
        ck.withUnsafeMutableBytes { cshims_sha256(name, name.count, $0.bytes) }
        h.withUnsafeMutableBytes { hp in ck.withUnsafeBytes { cshims_sha256($0.baseAddress!, 32, hp.bytes) } }
        return (ck, h)
    }()

    private(set) var chainingKey: Bytes32
    private(set) var hash: Bytes32
    /// The current cipher key (kept for tests); zero before the first MixKey.
    private var cipherKey = Bytes32()
    private var cipher = cshims_chachapoly()
    private var hasKey = false
    private(set) var n: UInt64 = 0

    init() {
        (chainingKey, hash) = Self.initial
    }

    /// The chaining key (tests).
    var ck: [UInt8] { chainingKey.array }
    /// The handshake hash (tests).
    var h: [UInt8] { hash.array }
    /// The current cipher key; `nil` before the first MixKey (tests).
    var k: [UInt8]? { hasKey ? cipherKey.array : nil }

    /// `h = SHA256(h ‖ data)`.
    mutating func mixHash(_ data: UnsafeRawBufferPointer) {
        // The C side allows the output to alias the first input.
        hash.withUnsafeMutableBytes { hp in cshims_sha256_concat(hp.baseAddress!, 32, data.baseAddress, data.count, hp.bytes) }
    }

    mutating func mixHash(_ data: [UInt8]) {
        data.withUnsafeBytes { mixHash($0) }
    }

    /// `(ck, k) = HKDF(ck, ikm)`, `n = 0`.
    mutating func mixKey(_ ikm: UnsafeRawBufferPointer) {
        chainingKey.withUnsafeMutableBytes { ckp in
            cipherKey.withUnsafeMutableBytes { kp in
                cshims_noise_hkdf(ckp.bytes, ikm.baseAddress, ikm.count, ckp.bytes, kp.bytes)
                cshims_chachapoly_init(&cipher, kp.bytes)
            }
        }
        hasKey = true
        n = 0
    }

    mutating func mixKey(_ ikm: Bytes32) {
        ikm.withUnsafeBytes { mixKey($0) }
    }

    mutating func mixKey(_ ikm: [UInt8]) {
        ikm.withUnsafeBytes { mixKey($0) }
    }

    /// Encrypts `buffer[0..<plaintextLength]` in place with AD = h (the tag follows it), then
    /// mixes the ciphertext into h. Without a key the plaintext is left as is. Returns the output length.
    mutating func encryptAndHash(_ buffer: UnsafeMutableRawBufferPointer, plaintextLength: Int) throws(Sv2NoiseError) -> Int {
        var length = plaintextLength
        if hasKey {
            guard n < .max else { throw .nonceExhausted }
            guard buffer.count >= plaintextLength + ChaChaPolyCipher.tagSize else {
                throw .wrongMessageSize(expected: plaintextLength + ChaChaPolyCipher.tagSize, got: buffer.count)
            }
            let ok = withNonce(n) { iv in
                hash.withUnsafeBytes { ad in cshims_chachapoly_seal(&cipher, iv, ad.baseAddress, 32, buffer.bytes, plaintextLength) }
            }
            precondition(ok == 1, "ChaCha20-Poly1305 seal failed")
            n += 1
            length += ChaChaPolyCipher.tagSize
        }
        mixHash(UnsafeRawBufferPointer(rebasing: buffer[..<length]))
        return length
    }

    /// Decrypts `buffer[0..<messageLength]` in place (AD = h) and mixes the ciphertext into h.
    /// Returns the plaintext length; throws ``Sv2NoiseError/badMAC`` leaving h and n unchanged.
    mutating func decryptAndHash(_ buffer: UnsafeMutableRawBufferPointer, messageLength: Int) throws(Sv2NoiseError) -> Int {
        // h must absorb the ciphertext, which in-place decryption overwrites: hash it first.
        var nextH = Bytes32()
        hash.withUnsafeBytes { hp in
            nextH.withUnsafeMutableBytes { cshims_sha256_concat(hp.baseAddress!, 32, buffer.baseAddress, messageLength, $0.bytes) }
        }
        guard hasKey else {
            hash = nextH
            return messageLength
        }
        guard messageLength >= ChaChaPolyCipher.tagSize else {
            throw .wrongMessageSize(expected: ChaChaPolyCipher.tagSize, got: messageLength)
        }
        guard n < .max else { throw .nonceExhausted }
        let plaintextLength = messageLength - ChaChaPolyCipher.tagSize
        let ok = withNonce(n) { iv in
            hash.withUnsafeBytes { ad in cshims_chachapoly_open(&cipher, iv, ad.baseAddress, 32, buffer.bytes, plaintextLength) }
        }
        guard ok == 1 else { throw .badMAC }
        n += 1
        hash = nextH
        return plaintextLength
    }

    /// `(k1, k2) = HKDF(ck, [])`: k1 protects initiator→responder, k2 responder→initiator.
    func splitKeys() -> (initiatorToResponder: Bytes32, responderToInitiator: Bytes32) {
        var k1 = Bytes32(), k2 = Bytes32()
        chainingKey.withUnsafeBytes { ck in
            k1.withUnsafeMutableBytes { o1 in k2.withUnsafeMutableBytes { cshims_noise_hkdf(ck.bytes, nil, 0, o1.bytes, $0.bytes) } }
        }
        return (k1, k2)
    }

    /// ``splitKeys()`` as arrays (tests).
    func split() -> (initiatorToResponder: [UInt8], responderToInitiator: [UInt8]) {
        let keys = splitKeys()
        return (keys.initiatorToResponder.array, keys.responderToInitiator.array)
    }
}

/// Calls `body` with the 12-byte ChaCha20-Poly1305 IV `00000000 ‖ LE64(n)` of Noise nonce `n`, on the stack.
@inline(__always)
func withNonce<R>(_ n: UInt64, _ body: (UnsafePointer<UInt8>) -> R) -> R {
    var iv: (UInt64, UInt64) = (0, 0)
    return withUnsafeMutableBytes(of: &iv) { raw in
        raw.storeBytes(of: n.littleEndian, toByteOffset: 4, as: UInt64.self)
        return body(UnsafePointer(raw.bytes))
    }
}
