import Testing
@testable import Sv2Noise

/// Encrypted frames: chunking, in-place layout, tampering and nonce limits.
@Suite struct NoiseSessionTests {
    static let k1 = Array(UInt8(1)...UInt8(32)), k2 = Array(UInt8(101)...UInt8(132))

    /// Two ends of one connection (sessions are non-copyable, hence no tuple).
    struct Pair: ~Copyable {
        var sender: NoiseSession
        var receiver: NoiseSession
    }

    static func pair(nonce: UInt64 = 0) -> Pair {
        Pair(
            sender: NoiseSession(sendKey: k1, receiveKey: k2, sendNonce: nonce, receiveNonce: nonce),
            receiver: NoiseSession(sendKey: k2, receiveKey: k1, sendNonce: nonce, receiveNonce: nonce))
    }

    /// A frame buffer with header at [0, 6) and a patterned payload at [22, 22 + L).
    static func frame(payloadLength: Int) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: NoiseSession.encryptedSize(payloadLength: payloadLength))
        let l = UInt32(payloadLength)
        frame.replaceSubrange(0..<6, with: [0x00, 0x80, 0x1e, UInt8(l & 0xff), UInt8(l >> 8 & 0xff), UInt8(l >> 16)])
        for i in 0..<payloadLength { frame[22 + i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8) }
        return frame
    }

    @Test func encryptedSizes() {
        #expect(NoiseSession.encryptedSize(payloadLength: 0) == 22)
        #expect(NoiseSession.encryptedSize(payloadLength: 1) == 39)
        #expect(NoiseSession.encryptedSize(payloadLength: 65_519) == 22 + 65_535)
        #expect(NoiseSession.encryptedSize(payloadLength: 65_520) == 22 + 65_520 + 32)
        #expect(NoiseSession.encryptedSize(payloadLength: 16_777_215) == 16_781_349)
    }

    @Test(arguments: [0, 1, 65_519, 65_520, 131_038, 131_039, 200_000])
    func roundTrip(payloadLength: Int) throws {
        var p = Self.pair()
        let original = Self.frame(payloadLength: payloadLength)
        var buffer = original
        let written = try buffer.withUnsafeMutableBytes { try p.sender.encryptFrame(in: $0, payloadLength: payloadLength) }
        #expect(written == buffer.count)
        #expect(p.sender.sendNonce == UInt64(1 + (payloadLength + 65_518) / 65_519))
        if payloadLength > 0 { #expect(buffer[22..<(22 + min(payloadLength, 64))] != original[22..<(22 + min(payloadLength, 64))]) }
        try buffer.withUnsafeMutableBytes { raw in
            try p.receiver.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<22]))
            try p.receiver.decryptPayload(UnsafeMutableRawBufferPointer(rebasing: raw[22...]), plaintextLength: payloadLength)
        }
        #expect(Array(buffer[0..<6]) == Array(original[0..<6]))
        #expect(Array(buffer[22..<(22 + payloadLength)]) == Array(original[22..<(22 + payloadLength)]))
        #expect(p.receiver.receiveNonce == p.sender.sendNonce)

        // A second frame uses the following nonces and still round-trips.
        var second = Self.frame(payloadLength: 7)
        _ = try second.withUnsafeMutableBytes { try p.sender.encryptFrame(in: $0, payloadLength: 7) }
        try second.withUnsafeMutableBytes { raw in
            try p.receiver.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<22]))
            try p.receiver.decryptPayload(UnsafeMutableRawBufferPointer(rebasing: raw[22...]), plaintextLength: 7)
        }
        #expect(Array(second[22..<29]) == Array(Self.frame(payloadLength: 7)[22..<29]))
    }

    @Test(arguments: [0, 5, 21, 22, 30, 65_556, 65_557, 100_000, 200_000 + 22 + 47])
    func tamperedByteIsBadMAC(position: Int) throws {
        var p = Self.pair()
        var buffer = Self.frame(payloadLength: 200_000)
        _ = try buffer.withUnsafeMutableBytes { try p.sender.encryptFrame(in: $0, payloadLength: 200_000) }
        buffer[position] ^= 0x01
        #expect(throws: Sv2NoiseError.badMAC) {
            try buffer.withUnsafeMutableBytes { raw in
                try p.receiver.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<22]))
                try p.receiver.decryptPayload(UnsafeMutableRawBufferPointer(rebasing: raw[22...]), plaintextLength: 200_000)
            }
        }
    }

    @Test func wrongKeyOrReplayIsBadMAC() throws {
        var p = Self.pair()
        var buffer = Self.frame(payloadLength: 10)
        _ = try buffer.withUnsafeMutableBytes { try p.sender.encryptFrame(in: $0, payloadLength: 10) }
        let sealed = buffer
        try buffer.withUnsafeMutableBytes { try p.receiver.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: $0[0..<22])) }
        // Replaying the same header (receiver nonce moved on) fails.
        var replay = sealed
        #expect(throws: Sv2NoiseError.badMAC) {
            try replay.withUnsafeMutableBytes { try p.receiver.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: $0[0..<22])) }
        }
        // Decrypting with the key of the other direction fails.
        var w = Self.pair()
        var copy = sealed
        #expect(throws: Sv2NoiseError.badMAC) {
            try copy.withUnsafeMutableBytes { try w.sender.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: $0[0..<22])) }
        }
    }

    @Test func bufferTooSmall() throws {
        var p = Self.pair()
        var buffer = [UInt8](repeating: 0, count: 38)
        #expect(throws: Sv2NoiseError.wrongMessageSize(expected: 39, got: 38)) {
            try buffer.withUnsafeMutableBytes { _ = try p.sender.encryptFrame(in: $0, payloadLength: 1) }
        }
        #expect(p.sender.sendNonce == 0)
    }

    @Test func nonceExhaustion() throws {
        // Nonce 2^64 − 1 is reserved: a header at 2^64 − 2 is the last message that can be sent.
        var p = Self.pair(nonce: .max - 1)
        var header = Self.frame(payloadLength: 0)
        #expect(try header.withUnsafeMutableBytes { try p.sender.encryptFrame(in: $0, payloadLength: 0) } == 22)
        try header.withUnsafeMutableBytes { try p.receiver.decryptHeader($0) }
        #expect(throws: Sv2NoiseError.nonceExhausted) {
            try header.withUnsafeMutableBytes { _ = try p.sender.encryptFrame(in: $0, payloadLength: 0) }
        }
        #expect(throws: Sv2NoiseError.nonceExhausted) { try header.withUnsafeMutableBytes { try p.receiver.decryptHeader($0) } }
        // Header + one chunk needs two nonces.
        var tight = Self.pair(nonce: .max - 2)
        var frame = Self.frame(payloadLength: 1)
        #expect(try frame.withUnsafeMutableBytes { try tight.sender.encryptFrame(in: $0, payloadLength: 1) } == 39)
        var tooTight = Self.pair(nonce: .max - 1)
        #expect(throws: Sv2NoiseError.nonceExhausted) {
            try frame.withUnsafeMutableBytes { _ = try tooTight.sender.encryptFrame(in: $0, payloadLength: 1) }
        }
    }
}
