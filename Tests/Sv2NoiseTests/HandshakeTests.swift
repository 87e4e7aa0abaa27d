import Testing
@testable import Sv2Noise

/// Handshakes with random keys: both identities, authority checks, ordering and tampering.
@Suite struct HandshakeTests {
    /// Runs a full handshake and one frame each way; returns the initiator's error if any.
    static func handshake(
        identity: NoiseResponder.Identity, authorityKey: AuthorityPublicKey?, now: UInt64 = 1_700_000_000,
        tamper: ((inout [UInt8]) -> Void)? = nil
    ) throws {
        var initiator = try NoiseInitiator(authorityKey: authorityKey)
        var responder = try NoiseResponder(identity: identity)
        var act1 = [UInt8](repeating: 0, count: 64)
        try act1.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
        var act2 = [UInt8](repeating: 0, count: 234)
        var serverSession: NoiseSession?
        try act1.withUnsafeBytes { a1 in
            try act2.withUnsafeMutableBytes { serverSession = try responder.respond(toActOne: a1, into: $0, now: now) }
        }
        tamper?(&act2)
        var clientSession: NoiseSession?
        try act2.withUnsafeBytes { clientSession = try initiator.readActTwo($0, now: now) }

        // One frame each way proves both sides derived the same keys.
        for (from, to) in [(true, false), (false, true)] {
            let payload: [UInt8] = Array("hello".utf8)
            var frame = [UInt8](repeating: 0, count: NoiseSession.encryptedSize(payloadLength: payload.count))
            frame.replaceSubrange(0..<6, with: [0, 0, 0x42, 5, 0, 0])
            frame.replaceSubrange(22..<27, with: payload)
            try frame.withUnsafeMutableBytes { raw in
                _ = from ? try clientSession!.encryptFrame(in: raw, payloadLength: 5)
                    : try serverSession!.encryptFrame(in: raw, payloadLength: 5)
                let header = UnsafeMutableRawBufferPointer(rebasing: raw[0..<22])
                let body = UnsafeMutableRawBufferPointer(rebasing: raw[22...])
                if to { try clientSession!.decryptHeader(header); try clientSession!.decryptPayload(body, plaintextLength: 5) }
                else { try serverSession!.decryptHeader(header); try serverSession!.decryptPayload(body, plaintextLength: 5) }
            }
            #expect(Array(frame[22..<27]) == payload)
            #expect(frame[2] == 0x42)
        }
    }

    @Test func freshStaticKeyPerConnection() throws {
        let authority = try AuthorityKeyPair.generate()
        try Self.handshake(
            identity: .freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600),
            authorityKey: authority.publicKey)
    }

    @Test func persistentStaticKey() throws {
        let authority = try AuthorityKeyPair.generate()
        let identity = try NoiseResponder.Identity.makePersistent(
            authority: authority, validFrom: 1_600_000_000, notValidAfter: 1_800_000_000)
        try Self.handshake(identity: identity, authorityKey: authority.publicKey)
        try Self.handshake(identity: identity, authorityKey: authority.publicKey)
        #expect(throws: Sv2NoiseError.certificateExpired(notValidAfter: 1_800_000_000, now: 1_900_000_000)) {
            try Self.handshake(identity: identity, authorityKey: authority.publicKey, now: 1_900_000_000)
        }
    }

    @Test func wrongAuthorityIsRejectedUnlessNoneIsPinned() throws {
        let authority = try AuthorityKeyPair.generate()
        let identity = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 60)
        #expect(throws: Sv2NoiseError.badCertificateSignature) {
            try Self.handshake(identity: identity, authorityKey: AuthorityKeyPair.generate().publicKey)
        }
        // No authority key: certificate not checked (SRI behaviour).
        try Self.handshake(identity: identity, authorityKey: nil)
    }

    @Test(arguments: [0, 63, 64, 100, 143, 144, 200, 233])
    func tamperedActTwoFails(position: Int) throws {
        let authority = try AuthorityKeyPair.generate()
        let identity = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 60)
        // Flipping the responder ephemeral changes every key; later bytes break their own MAC.
        #expect(throws: Sv2NoiseError.badMAC) {
            try Self.handshake(identity: identity, authorityKey: authority.publicKey) { $0[position] ^= 0x80 }
        }
    }

    @Test func outOfOrderAndSizes() throws {
        var initiator = try NoiseInitiator(authorityKey: nil)
        var act2 = [UInt8](repeating: 0, count: 234)
        #expect(throws: Sv2NoiseError.outOfOrder) { try act2.withUnsafeBytes { _ = try initiator.readActTwo($0) } }
        var small = [UInt8](repeating: 0, count: 63)
        #expect(throws: Sv2NoiseError.wrongMessageSize(expected: 64, got: 63)) {
            try small.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
        }
        var act1 = [UInt8](repeating: 0, count: 64)
        try act1.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
        #expect(throws: Sv2NoiseError.outOfOrder) { try act1.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) } }
        #expect(throws: Sv2NoiseError.wrongMessageSize(expected: 234, got: 233)) {
            try Array(act2.dropLast()).withUnsafeBytes { _ = try initiator.readActTwo($0) }
        }

        var responder = try NoiseResponder(
            identity: .freshStaticKeyPerConnection(authority: AuthorityKeyPair.generate(), certificateValidity: 60))
        #expect(throws: Sv2NoiseError.wrongMessageSize(expected: 64, got: 65)) {
            try [UInt8](repeating: 1, count: 65).withUnsafeBytes { a1 in
                try act2.withUnsafeMutableBytes { _ = try responder.respond(toActOne: a1, into: $0) }
            }
        }
        try act1.withUnsafeBytes { a1 in try act2.withUnsafeMutableBytes { _ = try responder.respond(toActOne: a1, into: $0) } }
        #expect(throws: Sv2NoiseError.outOfOrder) {
            try act1.withUnsafeBytes { a1 in try act2.withUnsafeMutableBytes { _ = try responder.respond(toActOne: a1, into: $0) } }
        }
        // Any 64 bytes are a valid EllSwift encoding, so garbage act 1 still gets an answer.
        var garbageResponder = try NoiseResponder(
            identity: .freshStaticKeyPerConnection(authority: AuthorityKeyPair.generate(), certificateValidity: 60))
        try [UInt8](repeating: 0xff, count: 64).withUnsafeBytes { a1 in
            try act2.withUnsafeMutableBytes { _ = try garbageResponder.respond(toActOne: a1, into: $0) }
        }
    }
}
