import CCrypto
import Testing
@testable import Sv2Noise

/// The portable ChaCha20-Poly1305 in `chachapoly_shims.c`: RFC 8439 vectors (inline, section
/// named on each), a cross-check against the OpenSSL EVP path for every length 0…1100 and a few
/// large ones, and tamper rejection that leaves the buffer as received.
@Suite struct ChaChaPolyFastPathTests {
    static let sequentialKey = Array(UInt8(0)...UInt8(31))

    static func prepared(_ key: [UInt8]) -> cshims_chachapoly {
        var ctx = cshims_chachapoly()
        cshims_chachapoly_init(&ctx, key)
        return ctx
    }

    /// RFC 8439 §2.3.2: the block function, key 00…1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00, counter 1.
    @Test func chacha20BlockRFC8439() {
        var ctx = Self.prepared(Self.sequentialKey)
        var out = [UInt8](repeating: 0, count: 64)
        cshims_chacha20_block(&ctx, 1, TestData.bytes("000000090000004a00000000"), &out)
        #expect(
            TestData.hex(out)
                == "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
                + "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e")
    }

    /// Every compiled keystream variant (4-block and 2-block; portable, AVX2, AVX-512VL) equals
    /// four calls of the scalar block function, including across the 32-bit counter wrap.
    @Test(arguments: Array(Int32(0)...5))
    func blocks4VariantsMatchScalar(variant: Int32) {
        var ctx = Self.prepared(Array(UInt8(100)..<UInt8(132)))
        let nonce = TestData.bytes("0102030405060708090a0b0c")
        for counter: UInt32 in [0, 1, 0x1234_5678, 0xffff_fffe] {
            var four = [UInt8](repeating: 0, count: 256)
            guard cshims_chacha20_blocks4(&ctx, counter, nonce, &four, variant) == 1 else {
                #expect(variant != 0, "the dispatching variant is always available")
                return
            }
            var scalar = [UInt8]()
            for i: UInt32 in 0..<4 {
                var block = [UInt8](repeating: 0, count: 64)
                cshims_chacha20_block(&ctx, counter &+ i, nonce, &block)
                scalar += block
            }
            #expect(four == scalar, "variant \(variant), counter \(counter)")
        }
    }

    /// RFC 8439 §2.4.2: encryption of the "sunscreen" text, key 00…1f, nonce …4a…, counter 1.
    @Test func chacha20EncryptionRFC8439() {
        var ctx = Self.prepared(Self.sequentialKey)
        var text = CryptoShimTests.rfcPlaintext
        cshims_chacha20_xor(&ctx, 1, TestData.bytes("000000000000004a00000000"), &text, text.count)
        #expect(
            TestData.hex(text)
                == "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
                + "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
                + "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
                + "5af90bbf74a35be6b40b8eedf2785e42874d")
    }

    /// RFC 8439 §2.5.2: Poly1305 of "Cryptographic Forum Research Group".
    @Test func poly1305RFC8439() {
        let key = TestData.bytes("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        let message = Array("Cryptographic Forum Research Group".utf8)
        var tag = [UInt8](repeating: 0, count: 16)
        cshims_poly1305(key, message, message.count, &tag)
        #expect(TestData.hex(tag) == "a8061dc1305136c6c22b8baf0c0127a9")
    }

    /// RFC 8439 §2.8.2: the AEAD vector (inputs shared with `CryptoShimTests`).
    @Test func aeadRFC8439() {
        var ctx = Self.prepared(CryptoShimTests.rfcKey)
        let ad = CryptoShimTests.rfcAD, iv = CryptoShimTests.rfcIV
        let n = CryptoShimTests.rfcPlaintext.count
        var buffer = CryptoShimTests.rfcPlaintext + [UInt8](repeating: 0, count: 16)
        #expect(cshims_chachapoly_seal(&ctx, iv, ad, ad.count, &buffer, n) == 1)
        #expect(TestData.hex(buffer) == CryptoShimTests.rfcSealed)
        #expect(cshims_chachapoly_open(&ctx, iv, ad, ad.count, &buffer, n) == 1)
        #expect(Array(buffer[..<n]) == CryptoShimTests.rfcPlaintext)
    }

    /// Random key, nonce, AD (0–40 bytes) and plaintext per length: both implementations seal to
    /// identical bytes (ciphertext and tag) and each opens the other's output.
    @Test func matchesOpenSSLForEveryLength() throws {
        var rng = SplitMix64(seed: 0x5eed_c4a4_9017_1305)
        for length in Array(0...1100) + [65519, 65535 + 16] {
            let key = rng.bytes(32), iv = rng.bytes(12), ad = rng.bytes(Int(rng.next() % 41))
            let plaintext = rng.bytes(length)
            var ours = Self.prepared(key)
            let evp = try #require(cshims_aead_new(key))
            defer { cshims_aead_free(evp) }

            var viaFast = plaintext + [UInt8](repeating: 0, count: 16)
            var viaEVP = viaFast
            #expect(cshims_chachapoly_seal(&ours, iv, ad, ad.count, &viaFast, length) == 1)
            #expect(cshims_aead_seal(evp, iv, ad, ad.count, &viaEVP, length) == 1)
            #expect(viaFast == viaEVP, "sealed output differs at length \(length)")

            #expect(cshims_chachapoly_open(&ours, iv, ad, ad.count, &viaEVP, length) == 1, "length \(length)")
            #expect(cshims_aead_open(evp, iv, ad, ad.count, &viaFast, length) == 1, "length \(length)")
            #expect(Array(viaEVP[..<length]) == plaintext && Array(viaFast[..<length]) == plaintext)
        }
    }

    /// Every single-bit flip of ciphertext, tag or AD is rejected and leaves the buffer as received.
    @Test(arguments: [0, 1, 6, 22, 40, 64, 65, 192])
    func rejectsEveryBitFlip(length: Int) {
        var rng = SplitMix64(seed: UInt64(length) &+ 1)
        let key = rng.bytes(32), iv = rng.bytes(12), ad = rng.bytes(13)
        var ctx = Self.prepared(key)
        var sealed = rng.bytes(length) + [UInt8](repeating: 0, count: 16)
        #expect(cshims_chachapoly_seal(&ctx, iv, ad, ad.count, &sealed, length) == 1)

        var rejected = 0, untouched = 0
        for bit in 0..<(sealed.count * 8) {
            var tampered = sealed
            tampered[bit / 8] ^= 1 << (bit % 8)
            let received = tampered
            if cshims_chachapoly_open(&ctx, iv, ad, ad.count, &tampered, length) == 0 { rejected += 1 }
            if tampered == received { untouched += 1 }
        }
        #expect(rejected == sealed.count * 8)
        #expect(untouched == sealed.count * 8)

        for bit in 0..<(ad.count * 8) {
            var otherAD = ad
            otherAD[bit / 8] ^= 1 << (bit % 8)
            var copy = sealed
            #expect(cshims_chachapoly_open(&ctx, iv, otherAD, otherAD.count, &copy, length) == 0)
            #expect(copy == sealed)
        }
        // The untampered message still opens.
        #expect(cshims_chachapoly_open(&ctx, iv, ad, ad.count, &sealed, length) == 1)
    }

    /// The Swift wrapper on both sides of its fast-path limit agrees with OpenSSL and round-trips.
    @Test(arguments: [0, 6, 22, 40, ChaChaPolyCipher.fastPathLimit, ChaChaPolyCipher.fastPathLimit + 1, 1024])
    func wrapperMatchesOpenSSL(length: Int) throws {
        var rng = SplitMix64(seed: 0xc1_9e4 &+ UInt64(length))
        let key = rng.bytes(32), ad = rng.bytes(7), plaintext = rng.bytes(length)
        let sender = ChaChaPolyCipher(key: key), receiver = ChaChaPolyCipher(key: key)
        let evp = try #require(cshims_aead_new(key))
        defer { cshims_aead_free(evp) }
        for n: UInt64 in [0, 1, 0xfedc_ba98_7654_3210] {
            var buffer = plaintext + [UInt8](repeating: 0, count: 16)
            ad.withUnsafeBytes { a in
                buffer.withUnsafeMutableBytes { sender.seal(nonce: n, associatedData: a, inPlace: $0, plaintextLength: length) }
            }
            var iv = [UInt8](repeating: 0, count: 4)
            withUnsafeBytes(of: n.littleEndian) { iv.append(contentsOf: $0) }
            var expected = plaintext + [UInt8](repeating: 0, count: 16)
            #expect(cshims_aead_seal(evp, iv, ad, ad.count, &expected, length) == 1)
            #expect(buffer == expected)

            var forged = buffer
            forged[forged.count - 1] ^= 0x80
            let forgedOpened = ad.withUnsafeBytes { a in
                forged.withUnsafeMutableBytes { receiver.open(nonce: n, associatedData: a, inPlace: $0, plaintextLength: length) }
            }
            #expect(!forgedOpened)
            let opened = ad.withUnsafeBytes { a in
                buffer.withUnsafeMutableBytes { receiver.open(nonce: n, associatedData: a, inPlace: $0, plaintextLength: length) }
            }
            #expect(opened)
            #expect(Array(buffer[..<length]) == plaintext)
        }
    }

    /// Rekeying replaces the key of both paths.
    @Test func rekeyReplacesBothPaths() {
        let first = [UInt8](repeating: 1, count: 32), second = [UInt8](repeating: 2, count: 32)
        let cipher = ChaChaPolyCipher(key: first)
        cipher.rekey(second)
        for length in [16, 1000] {
            var a = [UInt8](repeating: 0x33, count: length + 16), b = a
            let noAD = UnsafeRawBufferPointer(start: nil, count: 0)
            a.withUnsafeMutableBytes { cipher.seal(nonce: 5, associatedData: noAD, inPlace: $0, plaintextLength: length) }
            b.withUnsafeMutableBytes {
                ChaChaPolyCipher(key: second).seal(nonce: 5, associatedData: noAD, inPlace: $0, plaintextLength: length)
            }
            #expect(a == b, "length \(length)")
        }
    }
}

/// Deterministic test randomness (SplitMix64), so a failing length reproduces.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}
