import Testing
@testable import Sv2Noise

/// Certificates (SIGNATURE_NOISE_MESSAGE) and the authority key text forms.
@Suite struct CertificateTests {
    /// Spec §4.7.1 vector.
    @Test func specAuthorityKeyVector() throws {
        let key = try AuthorityPublicKey(base58Check: "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh")
        #expect(TestData.hex(key.xOnly) == "76637000979c1c11af0c300bcd8c7fe48610fce9b9c11e3daee35ae0b08a7455")
        #expect(key.base58Check == "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh")
    }

    /// SRI codec-sv2 test keys: public and secret text forms belong together.
    @Test func sriKeyPairVector() throws {
        let pair = try AuthorityKeyPair(secretKeyBase58Check: "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n")
        #expect(TestData.hex(pair.secretKey) == "65995eb19631f478a46ffa5cf1e545091efe950eaeac7482ffdc06eb6a89f697")
        #expect(pair.publicKey.base58Check == "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72")
        #expect(TestData.hex(pair.publicKey.xOnly) == "24ee3c3804a1aaa4c03b80ea19f7a5863c916e8994b7db94a3bad7ee092b6ce7")
        #expect(pair.secretKeyBase58Check == "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n")
        #expect(try AuthorityPublicKey(base58Check: pair.publicKey.base58Check) == pair.publicKey)
    }

    @Test func malformedKeysAreRejected() throws {
        // One character changed breaks the checksum.
        #expect(throws: Sv2NoiseError.invalidKey) {
            try AuthorityPublicKey(base58Check: "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXi")
        }
        #expect(throws: Sv2NoiseError.invalidKey) { try AuthorityPublicKey(base58Check: "0OIl") }
        // A valid secret key string is not a public key (no 01 00 prefix, wrong length).
        #expect(throws: Sv2NoiseError.invalidKey) {
            try AuthorityPublicKey(base58Check: "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n")
        }
        #expect(throws: Sv2NoiseError.invalidKey) { try AuthorityKeyPair(secretKey: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: Sv2NoiseError.invalidKey) { try AuthorityKeyPair(secretKey: [UInt8](repeating: 0xff, count: 32)) }
        // x = 5 is not on secp256k1 (5^3 + 7 = 132 is a non-residue).
        #expect(throws: Sv2NoiseError.invalidKey) { try AuthorityPublicKey(xOnly: [UInt8](repeating: 0, count: 31) + [5]) }
    }

    @Test func generatedKeyPairsRoundTrip() throws {
        let a = try AuthorityKeyPair.generate(), b = try AuthorityKeyPair.generate()
        #expect(a.secretKey != b.secretKey)
        let again = try AuthorityKeyPair(secretKeyBase58Check: a.secretKeyBase58Check)
        #expect(again.publicKey == a.publicKey)
    }

    @Test func encodeDecodeRoundTrip() throws {
        let cert = Sv2Certificate(version: 0, validFrom: 0x0102_0304, notValidAfter: 0xa0b0_c0d0, signature: Array(0..<64))
        let bytes = cert.encoded
        #expect(bytes.count == 74)
        #expect(Array(bytes[0..<10]) == [0, 0, 0x04, 0x03, 0x02, 0x01, 0xd0, 0xc0, 0xb0, 0xa0])
        let decoded = try bytes.withUnsafeBytes { try Sv2Certificate(decoding: $0) }
        #expect(decoded == cert)
        #expect(throws: Sv2NoiseError.wrongMessageSize(expected: 74, got: 73)) {
            try Array(bytes.dropLast()).withUnsafeBytes { try Sv2Certificate(decoding: $0) }
        }
    }

    @Test func verifyChecksSignatureVersionAndTime() throws {
        let authority = try AuthorityKeyPair.generate()
        let serverKey = try Secp256k1.xOnlyPublicKey(secretKey: Secp256k1.generateSecretKey())
        var cert = Sv2Certificate(validFrom: 1000, notValidAfter: 2000)
        try cert.sign(serverStaticXOnly: serverKey, authority: authority)
        let key = authority.publicKey

        for now: UInt64 in [990, 1000, 1500, 2000, 2010] {
            try cert.verify(serverStaticXOnly: serverKey, authorityKey: key, now: now)
        }
        #expect(throws: Sv2NoiseError.certificateNotYetValid(validFrom: 1000, now: 989)) {
            try cert.verify(serverStaticXOnly: serverKey, authorityKey: key, now: 989)
        }
        #expect(throws: Sv2NoiseError.certificateExpired(notValidAfter: 2000, now: 2011)) {
            try cert.verify(serverStaticXOnly: serverKey, authorityKey: key, now: 2011)
        }
        // Another server key, another authority, or altered fields break the signature.
        let otherKey = try Secp256k1.xOnlyPublicKey(secretKey: Secp256k1.generateSecretKey())
        #expect(throws: Sv2NoiseError.badCertificateSignature) {
            try cert.verify(serverStaticXOnly: otherKey, authorityKey: key, now: 1500)
        }
        #expect(throws: Sv2NoiseError.badCertificateSignature) {
            try cert.verify(serverStaticXOnly: serverKey, authorityKey: AuthorityKeyPair.generate().publicKey, now: 1500)
        }
        var stretched = cert
        stretched.notValidAfter = 3000
        #expect(throws: Sv2NoiseError.badCertificateSignature) {
            try stretched.verify(serverStaticXOnly: serverKey, authorityKey: key, now: 1500)
        }
        var future = cert
        future.version = 1
        #expect(throws: Sv2NoiseError.unsupportedCertificateVersion(1)) {
            try future.verify(serverStaticXOnly: serverKey, authorityKey: key, now: 1500)
        }
    }
}
