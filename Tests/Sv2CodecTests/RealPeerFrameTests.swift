import Foundation
import Testing
import Sv2Codec

/// One frame of a capture in `Vectors/real-peers/`.
struct CapturedFrame {
    let extensionType: UInt16
    let messageTypeByte: UInt8
    let payload: [UInt8]
    var type: Sv2MessageType? { Sv2MessageType(extensionType: extensionType, messageType: messageTypeByte) }
}

/// Loads `Vectors/real-peers/<name>.frames` (`ext(hex16) type(hex8) payload(hex)` per line).
func loadCapturedFrames(_ name: String) throws -> [CapturedFrame] {
    guard let url = Bundle.module.url(forResource: name, withExtension: "frames", subdirectory: "Vectors/real-peers")
    else { throw VectorError.missing(name) }
    return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
        let parts = line.split(separator: " ")
        guard parts.count == 3, let ext = UInt16(parts[0], radix: 16), let type = UInt8(parts[1], radix: 16),
              let payload = Sv2Hex.decode(String(parts[2])) else { throw VectorError.malformed(String(line)) }
        return CapturedFrame(extensionType: ext, messageTypeByte: type, payload: payload)
    }
}

/// Every frame captured from real peers (sv2-tp v1.1.1, SRI pool_sv2 0.1.3) decodes, with the values the captures'
/// README describes, and re-encodes to the same bytes where our layout is the sender's.
@Suite("Frames captured from deployed Sv2 software")
struct RealPeerFrameTests {
    /// Decodes every frame of a capture as the message its header names; returns the owned messages.
    private func decodeAll(_ name: String) throws -> [Sv2AnyMessage] {
        let frames = try loadCapturedFrames(name)
        #expect(!frames.isEmpty)
        return try frames.map { frame in
            let type = try #require(frame.type, "unknown message \(frame.extensionType)/\(frame.messageTypeByte)")
            #expect((frame.extensionType & 0x8000 != 0) == type.isChannelMessage, "channel bit of \(type)")
            return try frame.payload.withUnsafeBytes { raw in
                let message = try Sv2AnyMessage(type: type, payload: Sv2Bytes(unsafeBytes: raw))
                return message
            }
        }
    }

    @Test func sriPoolExtendedChannelWithoutGroupChannelID() throws {
        let frames = try loadCapturedFrames("sri-pool-extended")
        let messages = try decodeAll("sri-pool-extended")
        #expect(messages.count == 4)
        guard case .setupConnectionSuccess(let setup) = messages[0] else { Issue.record("\(messages[0])"); return }
        #expect(setup.usedVersion == 2 && setup.flags == 0)
        guard case .openExtendedMiningChannelSuccess(let open) = messages[1] else { Issue.record("\(messages[1])"); return }
        // The pre-2025-11 layout: 51 bytes, no group_channel_id (this used to throw truncated(needed: 4, available: 0)).
        #expect(frames[1].payload.count == 51)
        #expect(open.requestID == 1 && open.channelID == 1)
        #expect(open.extranonceSize == 24 && open.extranoncePrefix.count == 8)
        #expect(open.groupChannelID == 0)
        try frames[1].payload.withUnsafeBytes { raw in
            let view = try OpenExtendedMiningChannelSuccessView(payload: Sv2Bytes(unsafeBytes: raw))
            #expect(!view.hasGroupChannelID)
            #expect(view.trailingBytes.isEmpty)
        }
        // We send the current layout: the same fields plus group_channel_id (0).
        #expect(try open.encodedPayload() == frames[1].payload + [0, 0, 0, 0])
        guard case .newExtendedMiningJob(let job) = messages[2] else { Issue.record("\(messages[2])"); return }
        #expect(job.channelID == 1 && job.minNtime == nil)
        #expect(try job.encodedPayload() == frames[2].payload)
        guard case .setNewPrevHash(let prevHash) = messages[3] else { Issue.record("\(messages[3])"); return }
        #expect(prevHash.channelID == 1 && prevHash.jobID == job.jobID && prevHash.nbits == 0x207f_ffff)
        #expect(try prevHash.encodedPayload() == frames[3].payload)
    }

    @Test func sriPoolStandardChannel() throws {
        let frames = try loadCapturedFrames("sri-pool-standard")
        let messages = try decodeAll("sri-pool-standard")
        #expect(messages.count == 4)
        guard case .setupConnectionSuccess(let setup) = messages[0] else { Issue.record("\(messages[0])"); return }
        #expect(setup.flags == 1)  // REQUIRES_STANDARD_JOBS echoed
        guard case .openStandardMiningChannelSuccess(let open) = messages[1] else { Issue.record("\(messages[1])"); return }
        #expect(open.requestID == 1 && open.channelID == 1 && open.extranoncePrefix.count == 32)
        #expect(try open.encodedPayload() == frames[1].payload)  // group_channel_id present in this layout
        guard case .newMiningJob(let job) = messages[2] else { Issue.record("\(messages[2])"); return }
        #expect(job.channelID == 1 && job.minNtime == nil)
        guard case .setNewPrevHash(let prevHash) = messages[3] else { Issue.record("\(messages[3])"); return }
        #expect(prevHash.jobID == job.jobID)
        for (message, frame) in zip(messages, frames) { #expect(try message.message.encodedPayload() == frame.payload) }
    }

    @Test func sv2TemplateProvider() throws {
        let frames = try loadCapturedFrames("sv2-tp")
        let messages = try decodeAll("sv2-tp")
        #expect(messages.count == 3)
        guard case .setupConnectionSuccess(let setup) = messages[0] else { Issue.record("\(messages[0])"); return }
        #expect(setup.usedVersion == 2 && setup.flags == 0)
        guard case .newTemplate(let template) = messages[1] else { Issue.record("\(messages[1])"); return }
        #expect(template.futureTemplate && template.coinbaseTxOutputsCount == 1)
        #expect(template.coinbasePrefix.count <= 8)
        guard case .templateSetNewPrevHash(let prevHash) = messages[2] else { Issue.record("\(messages[2])"); return }
        #expect(prevHash.templateID == template.templateID && prevHash.nbits == 0x207f_ffff)
        for (message, frame) in zip(messages, frames) { #expect(try message.message.encodedPayload() == frame.payload) }
    }

    /// The older CoinbaseOutputConstraints (CoinbaseOutputDataSize, before sv2-spec #86) has no sigops field.
    @Test func coinbaseOutputConstraintsWithoutSigops() throws {
        let older: [UInt8] = [100, 0, 0, 0]
        let message = try CoinbaseOutputConstraints(decoding: older)
        #expect(message.coinbaseOutputMaxAdditionalSize == 100)
        #expect(message.coinbaseOutputMaxAdditionalSigops == 400)
        let hasSigops = try older.withUnsafeBytes { raw in
            try CoinbaseOutputConstraintsView(payload: Sv2Bytes(unsafeBytes: raw)).hasCoinbaseOutputMaxAdditionalSigops
        }
        #expect(!hasSigops)
        // A partial trailing field is still an error, named.
        #expect(throws: Sv2DecodeError(message: .coinbaseOutputConstraints, field: "coinbase_output_max_additional_sigops",
                                       offset: 4, reason: .truncated(needed: 2, available: 1))) {
            _ = try CoinbaseOutputConstraints(decoding: older + [1])
        }
        #expect(throws: Sv2DecodeError(message: .openExtendedMiningChannelSuccess, field: "group_channel_id",
                                       offset: 51, reason: .truncated(needed: 4, available: 2))) {
            let frames = try loadCapturedFrames("sri-pool-extended")
            _ = try OpenExtendedMiningChannelSuccess(decoding: frames[1].payload + [0, 0])
        }
    }
}
