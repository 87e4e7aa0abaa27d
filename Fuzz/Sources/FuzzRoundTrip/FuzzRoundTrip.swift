import FuzzDriver
import Glibc
import FuzzSupport
import Sv2Codec
import Sv2Noise

/// decode(encode(x)) == x for messages generated from the input: byte 0 picks the message type, the rest feeds the
/// generator (byte 1 is reserved). The generated frame also goes through Noise (encrypt with one fixed-key session,
/// decrypt with its peer) and must come out unchanged. Fields at their size limits (70 KB strings, 300-element
/// sequences, multi-chunk Noise frames) take ~1 s each to generate under ASan and are left to the unit tests
/// (MessageRoundTripTests.fieldsAtTheirLimits, NoiseSessionTests).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRoundTrip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let type = allMessageTypes[Int(data[0]) % allMessageTypes.count]
    let large = false
    let input = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    var rng = TestRNG(input: input)
    checkRoundTrip(type, rng: &rng, large: large)
    var frameRNG = TestRNG(input: input)
    let frame = randomFrame(type, rng: &frameRNG, large: large)
    checkNoiseRoundTrip(frame)
    return 0
}

private func checkNoiseRoundTrip(_ frame: [UInt8]) {
    let payloadLength = frame.count - Sv2FrameHeader.size
    var sender = FuzzKeys.sender()
    var receiver = FuzzKeys.receiver()
    var buffer = [UInt8](repeating: 0, count: NoiseSession.encryptedSize(payloadLength: payloadLength))
    buffer.withUnsafeMutableBytes { raw in
        raw.copyBytes(from: frame[0..<Sv2FrameHeader.size])
        UnsafeMutableRawBufferPointer(rebasing: raw[NoiseSession.encryptedHeaderSize...]).copyBytes(from: frame[Sv2FrameHeader.size...])
        let written = try! sender.encryptFrame(in: raw, payloadLength: payloadLength)
        check(written == raw.count, "encrypted size")
        try! receiver.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<NoiseSession.encryptedHeaderSize]))
        check(Array(raw[0..<Sv2FrameHeader.size]) == Array(frame[0..<Sv2FrameHeader.size]), "header changed")
        let payload = UnsafeMutableRawBufferPointer(rebasing: raw[NoiseSession.encryptedHeaderSize...])
        try! receiver.decryptPayload(payload, plaintextLength: payloadLength)
        check(Array(payload[0..<payloadLength]) == Array(frame[Sv2FrameHeader.size...]), "payload changed")
    }
    check(sender.sendNonce == receiver.receiveNonce, "nonces out of step")
}

@main
enum FuzzRoundTripMain {
    static func main() {
        exit(sv2_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, { fuzzRoundTrip($0, $1) }))
    }
}
