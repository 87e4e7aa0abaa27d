import Testing
import Sv2Codec

@Suite("Published byte vectors (sv2-tp, SRI)")
struct VectorTests {
    let tp: [String: [UInt8]]
    let sri: [String: [UInt8]]

    init() throws {
        tp = try loadVectors("sv2-tp-messages")
        sri = try loadVectors("sri-framing")
    }

    @Test func setupConnectionDecodes() throws {
        let bytes = try #require(tp["Sv2SetupConnection_test"])
        #expect(bytes.count == 82)
        let message = try SetupConnection(decoding: bytes)
        #expect(message.sv2Protocol == .templateDistribution)
        #expect(message.minVersion == 2 && message.maxVersion == 2)
        #expect(message.flags == 1)
        #expect(message.endpointHost == "0.0.0.0")
        #expect(message.endpointPort == 8545)
        #expect(message.vendor == "Bitmain")
        #expect(message.hardwareVersion == "S9i 13.5")
        #expect(message.firmware == "braiins-os-2018-09-22-1-hash")
        #expect(message.deviceID == "some-device-uuid")
        #expect(try message.encodedPayload() == bytes)
        #expect(Array(try message.encodedFrame().prefix(6)) == tp["Sv2NetHeader_SetupConnection_test_header"])
    }

    @Test func setupConnectionReplies() throws {
        #expect(try SetupConnectionSuccess(usedVersion: 2, flags: 3).encodedPayload() == tp["Sv2SetupConnectionSuccess_test"])
        #expect([0x01] + (try SetupConnectionSuccess(usedVersion: 2, flags: 3).encodedPayload())
            == tp["Sv2NetMsg_SetupConnectionSuccess_test"])
        let error = SetupConnectionError(flags: 0, errorCode: Sv2SetupErrorCode.protocolVersionMismatch)
        #expect(try error.encodedPayload() == tp["Sv2SetupConnectionError_test"])
    }

    @Test func newTemplate() throws {
        let outputs = hex("0100000000000000" + "036a012a")  // 1 sat, OP_RETURN 42; no count prefix (notes §8.8)
        let template = NewTemplate(
            templateID: 1, futureTemplate: false, version: 805_306_368, coinbaseTxVersion: 2,
            coinbasePrefix: [0x03, 0x01, 0x21, 0x00], coinbaseTxInputSequence: 0xffff_ffff,
            coinbaseTxValueRemaining: 2_100_000_000_000_000, coinbaseTxOutputsCount: 1, coinbaseTxOutputs: outputs,
            coinbaseTxLocktime: 903_387,
            merklePath: [U256(hex: "1a6240823de4c8d6aaf826851bdf2b0e8d5acf7c31e8578cff4c394b5a32bd4e")!])
        #expect(try template.encodedPayload() == tp["Sv2NewTemplate_test"])
        #expect(try Array(template.encodedFrame().prefix(3)) == Array(tp["Sv2NetHeader_NewTemplate_test_header"]!.prefix(3)))

        let multi = try NewTemplate(decoding: try #require(tp["Sv2NewTemplate_MultipleOutputs_test"]))
        #expect(multi.coinbaseTxOutputsCount == 3)
        #expect(multi.coinbaseTxOutputs.count == 33)
        #expect(Array(multi.coinbaseTxOutputs.prefix(8)) == hex("6400000000000000"))
        #expect(try multi.encodedPayload() == tp["Sv2NewTemplate_MultipleOutputs_test"])
    }

    @Test func templateSetNewPrevHash() throws {
        let message = TemplateSetNewPrevHash(
            templateID: 2, prevHash: U256(hex: "e59a2ef8d4826b89fe637f3b5322c0f167fd2d3dc88ec568a7c2c8ffd8eb8873")!,
            headerTimestamp: 1_661_877_399, nbits: 58_720_255,
            target: U256(hex: "ffff7f0000000000000000000000000000000000000000000000000000000000")!)
        #expect(try message.encodedPayload() == tp["Sv2SetNewPrevHash_test"])
        #expect(try Array(message.encodedFrame().prefix(6)).prefix(3) == tp["Sv2NetHeader_SetNewPrevHash_test_header"]!.prefix(3))
    }

    @Test func submitSolutionDecodes() throws {
        let bytes = try #require(tp["Sv2SubmitSolution_test"])
        let solution = try SubmitSolution(decoding: bytes)
        #expect(solution.templateID == 2)
        #expect(solution.version == 2)
        #expect(solution.headerTimestamp == 1_661_877_399)
        #expect(solution.headerNonce == 58_720_255)
        #expect(solution.coinbaseTx.count == 0x5d)
        // sv2-tp's test array is longer than the message (its test never checks consumption): the view keeps the
        // 23 extra bytes as trailing data, and re-encoding gives back exactly the message part.
        let trailing = try bytes.withUnsafeBytes { raw in try SubmitSolutionView(payload: Sv2Bytes(unsafeBytes: raw)).trailingBytes.count }
        #expect(trailing == bytes.count - 115)
        #expect(try solution.encodedPayload() == Array(bytes.prefix(115)))
    }

    @Test func sriHeaders() throws {
        let header = try #require(sri["header_parsing"])
        header.withUnsafeBytes { raw in
            let parsed = Sv2FrameHeader(loadingFrom: raw.baseAddress!)
            #expect(parsed.extensionType == 0x0201)
            #expect(parsed.messageType == 3)
            #expect(parsed.payloadLength == 0x060504)
            #expect(!parsed.isChannelMessage)
        }
        try #require(sri["channel_header"]).withUnsafeBytes { raw in
            let parsed = Sv2FrameHeader(loadingFrom: raw.baseAddress!)
            #expect(parsed.isChannelMessage)
            #expect(parsed.extensionID == 0)
            #expect(parsed.messageType == 0x1e)
            #expect(parsed.payloadLength == 46)
        }
        let share = SubmitSharesStandard(
            channelID: 1, sequenceNumber: 0, jobID: 1, nonce: 0xdead_beef, ntime: 0x6500_0000, version: 0x2000_0000)
        #expect(try share.encodedFrame() == sri["submit_shares_standard_frame"])
    }
}
