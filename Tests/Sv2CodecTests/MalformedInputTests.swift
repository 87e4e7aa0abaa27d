import Testing
import Sv2Codec

/// Every strict prefix of a valid payload must be rejected with a typed error naming the message — never a crash.
struct TruncationCheck: RandomMessageCheck {
    let seed: UInt64

    func run<M: RandomMessage>(_ messageType: M.Type) throws {
        var rng = TestRNG(seed: seed)
        let payload = try M.random(&rng, large: false).encodedPayload()
        // The one prefix that must decode: the older layout, without the optional trailing fields.
        let olderLayout = optionalTrailingBytes[M.messageType].map { payload.count - $0 }
        for cut in 0..<payload.count {
            let prefix = Array(payload[..<cut])
            prefix.withUnsafeBytes { raw in
                do throws(Sv2DecodeError) {
                    _ = try M.View(payload: Sv2Bytes(unsafeBytes: raw))
                    if cut != olderLayout {
                        Issue.record("\(M.messageType): prefix of \(cut)/\(payload.count) bytes decoded")
                    }
                } catch {
                    #expect(error.message == M.messageType)
                    #expect(error.offset <= cut)
                    if case .truncated(let needed, let available) = error.reason {
                        #expect(needed > available)
                    }
                }
            }
        }
    }
}

/// Random byte corruption: decoding must either succeed or throw a typed error with an in-bounds offset.
struct CorruptionCheck: RandomMessageCheck {
    let seed: UInt64

    func run<M: RandomMessage>(_ messageType: M.Type) throws {
        var rng = TestRNG(seed: seed)
        let payload = try M.random(&rng, large: false).encodedPayload()
        guard !payload.isEmpty else { return }
        for _ in 0..<200 {
            var bytes = payload
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = rng.u8()
            }
            if rng.bool() { bytes.append(contentsOf: (0..<Int.random(in: 0...8, using: &rng)).map { _ in rng.u8() }) }
            bytes.withUnsafeBytes { raw in
                do {
                    let view = try M.View(payload: Sv2Bytes(unsafeBytes: raw))
                    // Whatever decoded must re-encode and decode to the same owned value. (Byte equality does not
                    // hold in general: owned STR0_255 fields are Swift Strings, so invalid UTF-8 is replaced.)
                    let owned = M(view)
                    let again = try owned.encodedPayload()
                    #expect(try M(decoding: again) == owned)
                } catch let error as Sv2DecodeError {
                    #expect(error.offset >= 0 && error.offset <= bytes.count)
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
    }
}

@Suite("Malformed input is rejected, never trusted")
struct MalformedInputTests {
    @Test(arguments: Sv2MessageType.allCases)
    func everyTruncationIsAnError(_ type: Sv2MessageType) throws {
        for seed in 0..<5 as Range<UInt64> { try withMessageType(type, TruncationCheck(seed: seed)) }
    }

    @Test(arguments: Sv2MessageType.allCases)
    func corruptedPayloadsNeverCrash(_ type: Sv2MessageType) throws {
        try withMessageType(type, CorruptionCheck(seed: UInt64(type.rawValue) &+ 99))
    }

    @Test func lengthPrefixBeyondThePayload() throws {
        // SetExtranoncePrefix: channel 1, B0_32 claiming 32 bytes with 3 present.
        let payload = hex("01000000") + [32, 1, 2, 3]
        let error = try #require(throws: Sv2DecodeError.self) {
            try payload.withUnsafeBytes { try SetExtranoncePrefixView(payload: Sv2Bytes(unsafeBytes: $0)) }
        }
        #expect(error.message == .setExtranoncePrefix)
        #expect(error.field.description == "extranonce_prefix")
        #expect(error.offset == 5)
        #expect(error.reason == .truncated(needed: 32, available: 3))
    }

    @Test func lengthAboveTheTypeLimit() throws {
        // B0_32 with a 33-byte length is refused even when the bytes are there.
        let payload = hex("01000000") + [33] + [UInt8](repeating: 7, count: 33)
        let error = try #require(throws: Sv2DecodeError.self) {
            try payload.withUnsafeBytes { try SetExtranoncePrefixView(payload: Sv2Bytes(unsafeBytes: $0)) }
        }
        #expect(error.reason == .lengthExceedsLimit(length: 33, limit: 32))
        #expect(error.offset == 4)
        // And the encoder refuses to produce it.
        let tooLong = SetExtranoncePrefix(channelID: 1, extranoncePrefix: [UInt8](repeating: 0, count: 33))
        #expect(throws: Sv2EncodeError(message: .setExtranoncePrefix, field: "extranonce_prefix",
                                       reason: .lengthExceedsLimit(length: 33, limit: 32))) {
            try tooLong.encodedPayload()
        }
    }

    @Test func invalidOptionTag() throws {
        let payload = hex("01000000" + "02000000" + "02" + "00000000")
        let error = try #require(throws: Sv2DecodeError.self) {
            try payload.withUnsafeBytes { try NewMiningJobView(payload: Sv2Bytes(unsafeBytes: $0)) }
        }
        #expect(error.field.description == "min_ntime")
        #expect(error.reason == .invalidOptionTag(2))
    }

    @Test func hugeSequenceCountIsBoundedByThePayload() throws {
        // ProvideMissingTransactions.Success claiming 65535 transactions with none present.
        let payload = hex("01000000ffff")
        let error = try #require(throws: Sv2DecodeError.self) {
            try payload.withUnsafeBytes { try ProvideMissingTransactionsSuccessView(payload: Sv2Bytes(unsafeBytes: $0)) }
        }
        #expect(error.field.description == "transaction_list")
        // A B0_16M element claiming 16 MiB in a tiny payload.
        let payload2 = hex("01000000" + "0100" + "ffffff" + "00")
        #expect(throws: Sv2DecodeError.self) {
            try payload2.withUnsafeBytes { try ProvideMissingTransactionsSuccessView(payload: Sv2Bytes(unsafeBytes: $0)) }
        }
    }

    @Test func encoderRefusesTooSmallBuffers() throws {
        let message = SubmitSharesStandard(channelID: 1, sequenceNumber: 0, jobID: 1, nonce: 2, ntime: 3, version: 4)
        var buffer = [UInt8](repeating: 0, count: message.frameSize - 1)
        let error = buffer.withUnsafeMutableBytes { raw -> Sv2EncodeError? in
            do throws(Sv2EncodeError) { _ = try message.encodeFrame(into: raw); return nil } catch { return error }
        }
        #expect(error?.reason == .bufferTooSmall(needed: message.frameSize, available: message.frameSize - 1))
    }
}
