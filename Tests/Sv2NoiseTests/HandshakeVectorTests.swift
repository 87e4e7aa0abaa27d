import Testing
@testable import Sv2Noise

/// The deterministic end-to-end vector of /work/shared/sv2-notes.md §3.3 (self-generated with
/// libsecp256k1's ellswift module + Python `cryptography`, following SRI step by step).
@Suite struct HandshakeVectorTests {
    enum V {
        static let authoritySK = "65995eb19631f478a46ffa5cf1e545091efe950eaeac7482ffdc06eb6a89f697"
        static let authorityXOnly = "24ee3c3804a1aaa4c03b80ea19f7a5863c916e8994b7db94a3bad7ee092b6ce7"
        static let initEphemeralSK = "a02ce5cb76e3f5dd6dbf8800b8d5c25c63c05ba7accd0f6d8b8824692530673a"
        static let respEphemeralSK = "faaf44fb75419120f18ac615e41d421d9bc8e3162e076294aaf43819688f2a13"
        static let respStaticSK = "6886e40246931a80a175e302b942835fc4c8fdfe2f049fb19a057ee6a464ef54"
        static let respStaticXOnly = "f6b0b975bf1d4e0c999b4faf3fd1c03b0622593d0ce26495d2e2d3b4526d3126"
        static let msg1 = "5da7d832b9a87d5104190770ffe9de3871f16c65cec781b02e3768d321ed3f52c1ac7697e8b48c45c767f716cc050472c858c5db386f548241d568f46bd99a0e"
        static let hAfterActOne = "40c56603f346f7c6c77b77fc87886219e4161da41fdc9a96295f12ee5450e69e"
        static let ck1 = "a4e54a7024a6a9e6745e2fc93f27f89d4844b542099c65bd40665a694e55014a"
        static let kEE = "187a95337bad8d59b4a9c592c3e81d7444695f69b1bb9fa7e5d005d80594ec39"
        static let ck2 = "90caea66ec35a0e7d2426151dfdc05ceaa7b6e1a2b21034740599f7605b3caf2"
        static let kES = "f0fcfd7621309ca330fb105a25270e453de6aae1c701640ff4d4295d509c72ba"
        static let ecdhEE = "66d7e096a9c189eadff9d2b50aaec2b6f919198d2132c7b47a82503673f83bc8"
        static let ecdhES = "0750f42d7df3bbfc575f2f5cdc9c4351fd92381606259bbac2936e5aff9ba227"
        static let certHash = "97f48808cf8b122d5a14b555a20b8e4c9cb608df2a805f6855efaea29f1844ec"
        static let sigNoiseMessage = "000000f1536510ff5365d3e79cf5a5f73056a77c657ec63d1a26ae6f43cc2d5deb772e40ea28e4ca0ff4a5e290d4a4c3efa05910aaf1403432a03c7a087dc602fdec2dfd314d8e754c92"
        static let msg2 = "560bb8ce355a6d382fa31f355ec9c03ca0dcd33083cfd460c45b5d27b322dd1b19307a8dc426eb50f632f2921caaa9f867f1dc8419218b5d1c78058c8301c3c2dea2461fbeaa54c9f4c53b8744d5167d195929c1d029d18569db1d1529454c71fbd84694dd02c83df5b3179956f609c69125c0dba63c0b83adc898d424dc850e3265b3d9bb0041a25802f426fb5149ccfe33c130bed59d963e27eb23dca675c68cbd4eb2bba825052e6faa7f03ee3cef884dc446a4f11867739f9d820f0ed64bbdceffcb930e67d943f4199d421f4451438d7b8f3aa5345de7049120905f85d1d098f45c0dc0fdfd4a3b"
        static let hFinal = "5e2b79f005425ea9ed42ebe12fe1246ef76ca5a8f0fd71050de4d4c2a46f6dc0"
        static let k1 = "0b959dac74b5225ab6c00fbf353907cfc891bf0c52790a9828731eac867da745"
        static let k2 = "bad3c69b0015f5167879fba5124f62ff1a04c367c186aa903714701f2ee7f6c3"
        static let frame1Plain = "00000052000002020002000100000007302e302e302e306121074269746d61696e085339692031332e351c62726169696e732d6f732d323031382d30392d32322d312d6861736810736f6d652d6465766963652d75756964"
        static let frame1Cipher = "4950cafa3fad997008cf44d873dd0451568b3403e5665772d1b9b5950ab97aaacc2309d454d077fc159c1d913d674f5f7d90fdc3ee447721f13c38eafe7bdf60fd1b9a6853f4148074b2d27c83089cd74fdd15cb1e97ccd00583b285012394f40d5795aad3472e7b8db7958838f6b2aa7d989b4b25a7194b"
        static let frame2Plain = "000001060000020000000000"
        static let frame2Cipher = "264fa490ed7ece0df1c3147c529c52e5a48e76e51faef1fc5b7e92d05bb143ef44f6a15f3ff4830f5479eaf2"
        static let now: UInt64 = 1_700_000_000
    }

    static let zero32 = [UInt8](repeating: 0, count: 32)

    static func makeInitiator() throws -> NoiseInitiator {
        try NoiseInitiator(
            authorityKey: AuthorityPublicKey(xOnly: TestData.bytes(V.authorityXOnly)),
            ephemeralSecretKey: TestData.bytes(V.initEphemeralSK), encodingRandomness: zero32)
    }

    static func makeResponder() throws -> NoiseResponder {
        let authority = try AuthorityKeyPair(secretKey: TestData.bytes(V.authoritySK))
        return NoiseResponder(
            identity: .freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600),
            secrets: .init(
                ephemeralSecretKey: TestData.bytes(V.respEphemeralSK), staticSecretKey: TestData.bytes(V.respStaticSK),
                ephemeralEncodingRandomness: zero32, staticEncodingRandomness: zero32, signatureAuxRand: zero32))
    }

    @Test func initialState() {
        let state = NoiseHandshakeState()
        #expect(TestData.hex(state.ck) == "2eb47881208e9eee1f669f67c66ee70ea9ea88090d503fe830dc4bc83e29bf10")
        #expect(TestData.hex(state.h) == "922fa32e4f487c0d59caa3bed7899ce3d98db7e13dbd3b7cf2d23dd433dc6104")
        #expect(state.k == nil)
    }

    @Test func ecdhValues() throws {
        let ee = try Secp256k1.ecdh(
            initiator: TestData.bytes(V.msg1), responder: Array(TestData.bytes(V.msg2)[0..<64]),
            secretKey: TestData.bytes(V.initEphemeralSK), party: .initiator)
        #expect(TestData.hex(ee) == V.ecdhEE)
        let es = try Secp256k1.ecdh(
            initiator: TestData.bytes(V.msg1),
            responder: Secp256k1.ellSwiftEncoding(secretKey: TestData.bytes(V.respStaticSK), randomness: Self.zero32),
            secretKey: TestData.bytes(V.respStaticSK), party: .responder)
        #expect(TestData.hex(es) == V.ecdhES)
        #expect(try TestData.hex(Secp256k1.xOnlyPublicKey(secretKey: TestData.bytes(V.respStaticSK))) == V.respStaticXOnly)
    }

    @Test func certificateValues() throws {
        let authority = try AuthorityKeyPair(secretKey: TestData.bytes(V.authoritySK))
        #expect(TestData.hex(authority.publicKey.xOnly) == V.authorityXOnly)
        var cert = Sv2Certificate(validFrom: 1_700_000_000, notValidAfter: 1_700_003_600)
        #expect(TestData.hex(cert.signedMessage(serverStaticXOnly: TestData.bytes(V.respStaticXOnly))) == V.certHash)
        try cert.sign(serverStaticXOnly: TestData.bytes(V.respStaticXOnly), authority: authority, auxRand: Self.zero32)
        #expect(TestData.hex(cert.encoded) == V.sigNoiseMessage)
    }

    @Test func fullHandshakeByteForByte() throws {
        var initiator = try Self.makeInitiator()
        var responder = try Self.makeResponder()

        var act1 = [UInt8](repeating: 0, count: 64)
        try act1.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
        #expect(TestData.hex(act1) == V.msg1)
        #expect(TestData.hex(initiator.state.h) == V.hAfterActOne)

        var act2 = [UInt8](repeating: 0, count: 234)
        // NoiseSession is non-copyable, so it cannot be the result of withUnsafeBytes; assign it instead.
        var responderSession: NoiseSession?
        try act1.withUnsafeBytes { a1 in
            try act2.withUnsafeMutableBytes { responderSession = try responder.respond(toActOne: a1, into: $0, now: V.now) }
        }
        #expect(TestData.hex(act2) == V.msg2)
        #expect(TestData.hex(responder.state.h) == V.hFinal)
        #expect(TestData.hex(responder.state.ck) == V.ck2)
        #expect(responder.state.k.map(TestData.hex) == V.kES)
        #expect(TestData.hex(responder.state.split().initiatorToResponder) == V.k1)
        #expect(TestData.hex(responder.state.split().responderToInitiator) == V.k2)

        var initiatorSession: NoiseSession?
        try act2.withUnsafeBytes { initiatorSession = try initiator.readActTwo($0, now: V.now) }
        #expect(TestData.hex(initiator.state.h) == V.hFinal)
        #expect(TestData.hex(initiator.state.ck) == V.ck2)
        #expect(initiator.responderStaticKey.map(TestData.hex) == V.respStaticXOnly)
        #expect(initiator.responderCertificate?.validFrom == 1_700_000_000)

        // Transport, initiator → responder (k1, nonces 0 and 1).
        let plain1 = TestData.bytes(V.frame1Plain)
        var frame = [UInt8](repeating: 0, count: NoiseSession.encryptedSize(payloadLength: plain1.count - 6))
        frame.replaceSubrange(0..<6, with: plain1[0..<6])
        frame.replaceSubrange(22..<(22 + plain1.count - 6), with: plain1[6...])
        let written = try frame.withUnsafeMutableBytes { try initiatorSession!.encryptFrame(in: $0, payloadLength: plain1.count - 6) }
        #expect(written == 120)
        #expect(TestData.hex(frame) == V.frame1Cipher)
        try frame.withUnsafeMutableBytes { raw in
            try responderSession!.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<22]))
            try responderSession!.decryptPayload(UnsafeMutableRawBufferPointer(rebasing: raw[22...]), plaintextLength: 82)
        }
        #expect(Array(frame[0..<6]) == Array(plain1[0..<6]))
        #expect(Array(frame[22..<104]) == Array(plain1[6...]))

        // Transport, responder → initiator (k2, nonces 0 and 1).
        let plain2 = TestData.bytes(V.frame2Plain)
        var frame2 = [UInt8](repeating: 0, count: 44)
        frame2.replaceSubrange(0..<6, with: plain2[0..<6])
        frame2.replaceSubrange(22..<28, with: plain2[6...])
        #expect(try frame2.withUnsafeMutableBytes { try responderSession!.encryptFrame(in: $0, payloadLength: 6) } == 44)
        #expect(TestData.hex(frame2) == V.frame2Cipher)
        try frame2.withUnsafeMutableBytes { raw in
            try initiatorSession!.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<22]))
            try initiatorSession!.decryptPayload(UnsafeMutableRawBufferPointer(rebasing: raw[22...]), plaintextLength: 6)
        }
        #expect(Array(frame2[0..<6]) + Array(frame2[22..<28]) == plain2)
    }

    /// sv2-tp style (persistent static key + pre-signed certificate) yields the same act 2.
    @Test func persistentIdentityReproducesActTwo() throws {
        let authority = try AuthorityKeyPair(secretKey: TestData.bytes(V.authoritySK))
        let certificate = try TestData.bytes(V.sigNoiseMessage).withUnsafeBytes { try Sv2Certificate(decoding: $0) }
        let identity = try NoiseResponder.Identity.persistentStaticKey(
            secretKey: TestData.bytes(V.respStaticSK), certificate: certificate, encodingRandomness: Self.zero32)
        var responder = NoiseResponder(
            identity: identity,
            secrets: .init(
                ephemeralSecretKey: TestData.bytes(V.respEphemeralSK), staticSecretKey: [],
                ephemeralEncodingRandomness: Self.zero32, staticEncodingRandomness: [], signatureAuxRand: []))
        var act2 = [UInt8](repeating: 0, count: 234)
        try TestData.bytes(V.msg1).withUnsafeBytes { a1 in
            try act2.withUnsafeMutableBytes { _ = try responder.respond(toActOne: a1, into: $0, now: 1) }
        }
        #expect(TestData.hex(act2) == V.msg2)
        try certificate.verify(
            serverStaticXOnly: TestData.bytes(V.respStaticXOnly), authorityKey: authority.publicKey, now: V.now)
    }

    /// Intermediate values of act 2 on the responder side, step by step.
    @Test func responderIntermediateKeys() throws {
        var state = NoiseHandshakeState()
        state.mixHash(TestData.bytes(V.msg1))
        state.mixHash([])
        #expect(TestData.hex(state.h) == V.hAfterActOne)
        state.mixHash(Array(TestData.bytes(V.msg2)[0..<64]))
        #expect(TestData.hex(state.h) == "378f7f32599717c02b7d875b7246768e3f5cb7a7d255ecc926fd338bdca5cf09")
        state.mixKey(TestData.bytes(V.ecdhEE))
        #expect(TestData.hex(state.ck) == V.ck1)
        #expect(state.k.map(TestData.hex) == V.kEE)
        var part = Array(TestData.bytes(V.msg2)[64..<144])
        let length = try part.withUnsafeMutableBytes { try state.decryptAndHash($0, messageLength: 80) }
        #expect(length == 64)
        #expect(TestData.hex(state.h) == "190cbb72de4733fd511e3f04466c38d219f3abefc2282963934fd8d5752cd571")
        state.mixKey(TestData.bytes(V.ecdhES))
        #expect(TestData.hex(state.ck) == V.ck2)
        #expect(state.k.map(TestData.hex) == V.kES)
    }
}
