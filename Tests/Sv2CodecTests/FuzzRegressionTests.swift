import Testing
import Sv2Codec

/// Inputs libFuzzer found (Fuzz/, see Fuzz/README.md), replayed through the same checks as the fuzz targets.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// A decoded owned message must encode again, to the same bytes on a second round.
    func expectReencodes(_ type: Sv2MessageType, _ payload: [UInt8]) throws {
        let message = try payload.withUnsafeBytes { try Sv2AnyMessage(type: type, payload: Sv2Bytes(unsafeBytes: $0)) }
        let encoded = try message.message.encodedPayload()
        let again = try encoded.withUnsafeBytes { try Sv2AnyMessage(type: type, payload: Sv2Bytes(unsafeBytes: $0)) }
        #expect(try again.message.encodedPayload() == encoded)
        #expect(again == message)
    }

    /// FuzzFrames: DeclareMiningJob.Error whose error_code holds invalid UTF-8 (0x9a, 0x91 …): each bad byte becomes
    /// U+FFFD (3 bytes), so the re-encoded payload grows. That alone is acceptable (the first fuzz property was too
    /// strict); what it revealed is `longInvalidStringsStillEncode` below.
    @Test func invalidUTF8InErrorCode() throws {
        let input = hex("2036e7c29a057764916d6c0700912d3ef4dbdd35")
        #expect(Sv2MessageType.allCases[Int(input[0])] == .declareMiningJobError)
        try expectReencodes(.declareMiningJobError, Array(input[1...]))
    }

    /// FuzzFrames: a SubmitShares.Error frame with invalid UTF-8 in error_code.
    @Test func invalidUTF8InSubmitSharesError() throws {
        let input = hex("ff00801d0f00001cc85bd5de3e75e6063566678c736a6c")
        let frame = Array(input[1...])
        try frame.withUnsafeBytes { raw in
            let split = try #require(try Sv2Frame.split(raw))
            #expect(split.header.knownMessageType == .submitSharesError)
            try expectReencodes(.submitSharesError, Array(split.payload))
        }
    }

    /// The worst case: 255 invalid bytes would repair to 765; the owned string is cut back to 255 bytes on a scalar
    /// boundary, so the message still encodes.
    @Test(arguments: [0xFF, 0x80, 0xC3] as [UInt8])
    func longInvalidStringsStillEncode(_ byte: UInt8) throws {
        let payload: [UInt8] = [1, 0, 0, 0, 255] + [UInt8](repeating: byte, count: 255) + [0, 0]
        let message = try DeclareMiningJobError(decoding: payload)
        #expect(message.errorCode.utf8.count <= 255)
        #expect(message.errorCode.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
        try expectReencodes(.declareMiningJobError, payload)
    }

    /// Valid UTF-8 (multi-byte included) is kept byte for byte.
    @Test func validUTF8IsKept() throws {
        let text = Array("é€😀 pool-user.worker".utf8)
        let payload: [UInt8] = [0, 0, 0, 0, UInt8(text.count)] + text + [3, 0, 1, 2, 3]
        let message = try DeclareMiningJobError(decoding: payload)
        #expect(Array(message.errorCode.utf8) == text)
        #expect(try message.encodedPayload() == payload)
    }
}
