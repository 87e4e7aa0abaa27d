// Writes the seed corpus: valid frames of every message type (plain and encrypted under the fuzz keys) and both
// handshake messages. Usage: CorpusGenerator <Fuzz/Corpus directory>. Deterministic except for handshake keys.
import Foundation
import FuzzSupport
import Sv2Codec
import Sv2Noise

let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Corpus")
var written = 0

@MainActor func write(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
    let dir = root.appendingPathComponent(target)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try Data(bytes).write(to: dir.appendingPathComponent(name))
    written += 1
}

func hexName(_ type: Sv2MessageType) -> String { String(format: "%05x", type.rawValue) }

func encrypt(_ frame: [UInt8], with session: inout NoiseSession) -> [UInt8] {
    let payloadLength = frame.count - Sv2FrameHeader.size
    var buffer = [UInt8](repeating: 0, count: NoiseSession.encryptedSize(payloadLength: payloadLength))
    buffer.withUnsafeMutableBytes { raw in
        raw.copyBytes(from: frame[0..<Sv2FrameHeader.size])
        UnsafeMutableRawBufferPointer(rebasing: raw[NoiseSession.encryptedHeaderSize...]).copyBytes(from: frame[Sv2FrameHeader.size...])
        _ = try! session.encryptFrame(in: raw, payloadLength: payloadLength)
    }
    return buffer
}

// Frames and payloads of every type.
var stream: [UInt8] = []
var encryptedStream: [UInt8] = []
var streamSender = FuzzKeys.sender()
for (index, type) in allMessageTypes.enumerated() {
    for seed in 0..<2 as Range<UInt64> {
        var rng = TestRNG(seed: UInt64(type.rawValue) &* 31 &+ seed)
        let frame = randomFrame(type, rng: &rng)
        try write("FuzzFrames", "payload-\(hexName(type))-\(seed)", [UInt8(index)] + frame[Sv2FrameHeader.size...])
        try write("FuzzFrames", "frame-\(hexName(type))-\(seed)", [0xFF] + frame)
        var sender = FuzzKeys.sender()
        try write("FuzzTransport", "frame-\(hexName(type))-\(seed)", [0x00] + encrypt(frame, with: &sender))
        if seed == 0 {
            stream += frame
            encryptedStream += encrypt(frame, with: &streamSender)
        }
        // Round trip: type index, flags, generator bytes.
        var bytes: [UInt8] = [UInt8(index), 0]
        var seedRNG = TestRNG(seed: seed &+ 1000 &* UInt64(index))
        for _ in 0..<8 { withUnsafeBytes(of: seedRNG.next().littleEndian) { bytes += $0 } }
        try write("FuzzRoundTrip", "\(hexName(type))-\(seed)", bytes)
    }
}
try write("FuzzFrames", "stream-all-types", [0xFE] + stream)
try write("FuzzFrames", "stream-all-types-4k-limit", [0xFF] + stream)
try write("FuzzTransport", "stream-all-types", [0x00] + encryptedStream)
// decryptPayload directly: a 100-byte payload sealed under nonce 0 (header omitted).
do {
    var rng = TestRNG(seed: 5)
    let frame = randomFrame(.newExtendedMiningJob, rng: &rng)
    var sender = FuzzKeys.sender()
    let sealed = encrypt(frame, with: &sender)
    let length = frame.count - Sv2FrameHeader.size
    try write("FuzzTransport", "direct-payload", [0x01, UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16)]
        + sealed[NoiseSession.encryptedHeaderSize...])
}

// Both handshake messages.
var initiator = try NoiseInitiator(authorityKey: fuzzAuthority.publicKey)
var responder = try NoiseResponder(identity: fuzzIdentity)
var actOne = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
var actTwo = [UInt8](repeating: 0, count: NoiseResponder.actTwoSize)
try actOne.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
try actTwo.withUnsafeMutableBytes { out in try actOne.withUnsafeBytes { _ = try responder.respond(toActOne: $0, into: out) } }
try write("FuzzHandshake", "act1", [0] + actOne)
try write("FuzzHandshake", "act1-then-frame", [0] + actOne + stream.prefix(64))
try write("FuzzHandshake", "act2", [1] + actTwo)
try write("FuzzHandshake", "act2-no-authority", [2] + actTwo)
try write("FuzzHandshake", "act2-untampered", [3] + [UInt8](repeating: 0, count: NoiseResponder.actTwoSize))
try write("FuzzHandshake", "act2-one-bit", [3] + [UInt8](repeating: 0, count: 200) + [1])
print("wrote \(written) corpus files under \(root.path)")
