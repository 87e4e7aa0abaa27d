import Testing
import Sv2Codec

/// Encodes a message as a frame, splits it back out of a buffer, decodes the view and compares.
struct RoundTrip: RandomMessageCheck {
    let seed: UInt64
    let large: Bool

    func run<M: RandomMessage>(_ messageType: M.Type) throws {
        var rng = TestRNG(seed: seed)
        let message = M.random(&rng, large: large)
        let frame = try message.encodedFrame()
        #expect(frame.count == message.frameSize)
        try frame.withUnsafeBytes { raw in
            let split = try #require(try Sv2Frame.split(raw))
            #expect(split.size == frame.count)
            #expect(split.header.knownMessageType == M.messageType)
            #expect(split.header.isChannelMessage == M.messageType.isChannelMessage)
            #expect(split.header.extensionID == M.messageType.extensionType)
            let view = try M.View(payload: split.payload)
            #expect(view.trailingBytes.isEmpty)
            let decoded = M(view)
            #expect(decoded == message, "\(M.messageType) seed \(seed)")
            #expect(try decoded.encodedFrame() == frame)
            #expect(decoded.messageChannelID == message.messageChannelID)
            if M.messageType.isChannelMessage {
                // Channel messages start with the channel id (what routers read without decoding).
                #expect(decoded.messageChannelID == split.payload.loadLittleEndianUInt32(at: 0))
            }
            // The owned-any path agrees.
            let any = try Sv2AnyMessage(type: M.messageType, payload: split.payload)
            #expect(type(of: any.message) == M.self)
        }
    }
}

@Suite("Every message round-trips")
struct MessageRoundTripTests {
    @Test(arguments: Sv2MessageType.allCases)
    func randomValues(_ type: Sv2MessageType) throws {
        for seed in 0..<40 as Range<UInt64> {
            try withMessageType(type, RoundTrip(seed: seed &* 7919 &+ UInt64(type.rawValue), large: false))
        }
    }

    @Test(arguments: Sv2MessageType.allCases)
    func fieldsAtTheirLimits(_ type: Sv2MessageType) throws {
        try withMessageType(type, RoundTrip(seed: UInt64(type.rawValue), large: true))
    }

    @Test func typeTableIsConsistent() {
        #expect(Sv2MessageType.allCases.count == 44)
        for type in Sv2MessageType.allCases {
            #expect(Sv2MessageType(extensionType: type.extensionType, messageType: type.messageTypeByte) == type)
            // The channel bit never changes which message a header names.
            #expect(Sv2MessageType(extensionType: type.extensionType | 0x8000, messageType: type.messageTypeByte) == type)
        }
        #expect(Sv2MessageType.submitSharesStandard.isChannelMessage)
        #expect(!Sv2MessageType.setGroupChannel.isChannelMessage)
        #expect(Sv2MessageType.requestExtensions.extensionType == 1)
        #expect(Sv2MessageType.newTemplate.group.requiredProtocol == .templateDistribution)
        #expect(Sv2MessageType(extensionType: 0, messageType: 0x1e) == nil)
    }

    @Test func submitSharesExtendedCarriesTLVs() throws {
        let tlvs = [Sv2TLV.workerIdentity("Worker_001")]
        let data = try Sv2TLV.encode(tlvs)
        // SRI's little-endian TLV encoding (notes §4.6).
        #expect(data == hex("0200010a00") + Array("Worker_001".utf8))
        let share = SubmitSharesExtended(
            channelID: 1, sequenceNumber: 2, jobID: 3, nonce: 4, ntime: 5, version: 6, extranonce: [1, 2, 3],
            extensionData: data)
        let payload = try share.encodedPayload()
        try payload.withUnsafeBytes { raw in
            let view = try SubmitSharesExtendedView(payload: Sv2Bytes(unsafeBytes: raw))
            #expect(Array(view.trailingBytes) == data)
            #expect(try Sv2TLV.parse(view.trailingBytes) == tlvs)
            #expect(SubmitSharesExtended(view) == share)
        }
    }
}
