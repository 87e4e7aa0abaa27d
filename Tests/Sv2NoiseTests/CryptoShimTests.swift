import CCrypto
import Testing
@testable import Sv2Noise

/// HMAC-SHA256 (RFC 4231) and ChaCha20-Poly1305 (RFC 8439) through the OpenSSL shims.
@Suite struct CryptoShimTests {
    /// RFC 4231 §4.2, §4.3 and §4.7 (key longer than the block size).
    @Test(arguments: [
        ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ])
    func hmacRFC4231(key: [UInt8], data: [UInt8], expected: String) {
        var out = [UInt8](repeating: 0, count: 32)
        cshims_hmac_sha256(key, key.count, data, data.count, &out)
        #expect(TestData.hex(out) == expected)
    }

    static let rfcKey = Array(UInt8(0x80)...UInt8(0x9f))
    static let rfcIV = TestData.bytes("070000004041424344454647")
    static let rfcAD = TestData.bytes("50515253c0c1c2c3c4c5c6c7")
    static let rfcPlaintext = Array(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
            .utf8)
    static let rfcSealed =
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
        + "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        + "3ff4def08e4b7a9de576d26586cec64b6116" + "1ae10b594f09e26a7e902ecbd0600691"

    /// RFC 8439 §2.8.2 (its IV is not a Noise nonce, so this goes through the raw C API).
    @Test func chachaPolyRFC8439() throws {
        let ctx = try #require(cshims_aead_new(Self.rfcKey))
        defer { cshims_aead_free(ctx) }
        var buffer = Self.rfcPlaintext + [UInt8](repeating: 0, count: 16)
        let n = Self.rfcPlaintext.count
        #expect(cshims_aead_seal(ctx, Self.rfcIV, Self.rfcAD, Self.rfcAD.count, &buffer, n) == 1)
        #expect(TestData.hex(buffer) == Self.rfcSealed)
        #expect(cshims_aead_open(ctx, Self.rfcIV, Self.rfcAD, Self.rfcAD.count, &buffer, n) == 1)
        #expect(Array(buffer[..<n]) == Self.rfcPlaintext)
        // Any flipped bit (ciphertext, tag or AD) fails cleanly.
        for position in [0, n - 1, n, n + 15] {
            var sealed = TestData.bytes(Self.rfcSealed)
            sealed[position] ^= 0x01
            #expect(cshims_aead_open(ctx, Self.rfcIV, Self.rfcAD, Self.rfcAD.count, &sealed, n) == 0)
        }
        var sealed = TestData.bytes(Self.rfcSealed)
        let otherAD = [UInt8](Self.rfcAD.dropLast()) + [0]
        #expect(cshims_aead_open(ctx, Self.rfcIV, otherAD, otherAD.count, &sealed, n) == 0)
    }

    /// The Swift wrapper: nonce layout `00000000 ‖ LE64(n)`, reuse across messages, rekeying.
    @Test func cipherWrapperNonceLayout() throws {
        let key = Array(UInt8(0)..<32)
        let cipher = ChaChaPolyCipher(key: key)
        let ctx = try #require(cshims_aead_new(key))
        defer { cshims_aead_free(ctx) }
        for n: UInt64 in [0, 1, 0x0102_0304_0506_0708, .max - 1] {
            var viaWrapper = Array("nonce check".utf8) + [UInt8](repeating: 0, count: 16)
            viaWrapper.withUnsafeMutableBytes {
                cipher.seal(nonce: n, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), inPlace: $0, plaintextLength: 11)
            }
            var iv = [UInt8](repeating: 0, count: 4)
            withUnsafeBytes(of: n.littleEndian) { iv.append(contentsOf: $0) }
            var viaC = Array("nonce check".utf8) + [UInt8](repeating: 0, count: 16)
            #expect(cshims_aead_seal(ctx, iv, nil, 0, &viaC, 11) == 1)
            #expect(viaWrapper == viaC)
            let opened = viaWrapper.withUnsafeMutableBytes {
                cipher.open(nonce: n, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), inPlace: $0, plaintextLength: 11)
            }
            #expect(opened)
            #expect(Array(viaWrapper[..<11]) == Array("nonce check".utf8))
            let wrongNonce = viaC.withUnsafeMutableBytes {
                cipher.open(nonce: n ^ 1, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), inPlace: $0, plaintextLength: 11)
            }
            #expect(!wrongNonce)
        }
    }

    /// Noise HKDF: HMAC chain as described in the notes §3.
    @Test func noiseHKDF() {
        let ck = Array(UInt8(1)...UInt8(32)), ikm = Array("input key material".utf8)
        var o1 = [UInt8](repeating: 0, count: 32), o2 = [UInt8](repeating: 0, count: 32)
        cshims_noise_hkdf(ck, ikm, ikm.count, &o1, &o2)
        func hmac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 32)
            cshims_hmac_sha256(key, key.count, data, data.count, &out)
            return out
        }
        let tk = hmac(ck, ikm)
        #expect(o1 == hmac(tk, [1]))
        #expect(o2 == hmac(tk, o1 + [2]))
        #expect(o1 != o2)
    }
}
