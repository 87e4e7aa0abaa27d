import CCrypto

/// Noise symmetric state for `Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256`: chaining key `ck`,
/// handshake hash `h` and the optional cipher key `k` with its nonce `n`.
struct NoiseHandshakeState {
    static let protocolName = "Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256"
    /// Act 1: the initiator's ephemeral EllSwift encoding.
    static let actOneSize = 64
    /// Act 2: `ell_e_r ‖ enc(ell_s_r) ‖ enc(certificate)` = 64 + 80 + 90.
    static let actTwoSize = 234

    private(set) var ck: [UInt8]
    private(set) var h: [UInt8]
    /// The current cipher key (kept for tests and `Split` bookkeeping); `nil` before the first MixKey.
    private(set) var k: [UInt8]?
    private(set) var n: UInt64 = 0
    private var cipher: ChaChaPolyCipher?

    init() {
        ck = Secp256k1.sha256(Array(Self.protocolName.utf8))
        h = Secp256k1.sha256(ck)
    }

    /// `h = SHA256(h ‖ data)`.
    mutating func mixHash(_ data: UnsafeRawBufferPointer) {
        // The C side allows the output to alias the first input.
        h.withUnsafeMutableBufferPointer { hp in
            cshims_sha256_concat(hp.baseAddress!, 32, data.baseAddress, data.count, hp.baseAddress!)
        }
    }

    mutating func mixHash(_ data: [UInt8]) {
        data.withUnsafeBytes { mixHash($0) }
    }

    /// `(ck, k) = HKDF(ck, ikm)`, `n = 0`.
    mutating func mixKey(_ ikm: [UInt8]) {
        var newK = [UInt8](repeating: 0, count: 32)
        ck.withUnsafeMutableBufferPointer { ckp in
            cshims_noise_hkdf(ckp.baseAddress!, ikm, ikm.count, ckp.baseAddress!, &newK)
        }
        k = newK
        n = 0
        if let cipher { cipher.rekey(newK) } else { cipher = ChaChaPolyCipher(key: newK) }
    }

    /// Encrypts `buffer[0..<plaintextLength]` in place with AD = h (the tag follows it), then
    /// mixes the ciphertext into h. Without a key the plaintext is left as is. Returns the output length.
    mutating func encryptAndHash(_ buffer: UnsafeMutableRawBufferPointer, plaintextLength: Int) throws(Sv2NoiseError) -> Int {
        var length = plaintextLength
        if let cipher {
            guard n < .max else { throw .nonceExhausted }
            h.withUnsafeBytes { ad in cipher.seal(nonce: n, associatedData: ad, inPlace: buffer, plaintextLength: plaintextLength) }
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
        var nextH = [UInt8](repeating: 0, count: 32)
        cshims_sha256_concat(h, 32, buffer.baseAddress, messageLength, &nextH)
        guard let cipher else {
            h = nextH
            return messageLength
        }
        guard messageLength >= ChaChaPolyCipher.tagSize else {
            throw .wrongMessageSize(expected: ChaChaPolyCipher.tagSize, got: messageLength)
        }
        guard n < .max else { throw .nonceExhausted }
        let plaintextLength = messageLength - ChaChaPolyCipher.tagSize
        let ok = h.withUnsafeBytes { ad in
            cipher.open(nonce: n, associatedData: ad, inPlace: buffer, plaintextLength: plaintextLength)
        }
        guard ok else { throw .badMAC }
        n += 1
        h = nextH
        return plaintextLength
    }

    /// `(k1, k2) = HKDF(ck, [])`: k1 protects initiator→responder, k2 responder→initiator.
    func split() -> (initiatorToResponder: [UInt8], responderToInitiator: [UInt8]) {
        var k1 = [UInt8](repeating: 0, count: 32), k2 = [UInt8](repeating: 0, count: 32)
        cshims_noise_hkdf(ck, nil, 0, &k1, &k2)
        return (k1, k2)
    }
}
