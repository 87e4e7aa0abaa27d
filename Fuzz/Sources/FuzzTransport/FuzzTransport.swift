import FuzzDriver
import Glibc
import FuzzSupport
import Sv2Codec
import Sv2Noise

/// The encrypted transport fed arbitrary ciphertext (fixed keys, so seeds hold valid frames to mutate).
///
/// Input byte 0 even: the rest is a stream of encrypted frames read like `Sv2Link` does (header, bound check,
/// payload, decode). Odd: bytes 1–3 are a plaintext length and the rest is handed to `decryptPayload` directly.
/// A frame that authenticates must decode as a frame; nothing may crash or read out of bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTransport(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    var input = Array(UnsafeRawBufferPointer(start: data, count: size).dropFirst())
    var session = FuzzKeys.receiver()
    if data[0] & 1 == 0 {
        readStream(&input, session: &session)
    } else if input.count >= 3 {
        let length = Int(input[0]) | Int(input[1]) << 8 | Int(input[2]) << 16
        input.withUnsafeMutableBytes { raw in
            let cipher = UnsafeMutableRawBufferPointer(rebasing: raw[3...])
            let result = Result { () throws(Sv2NoiseError) in try session.decryptPayload(cipher, plaintextLength: length) }
            if case .failure(let error) = result {
                check(error == .badMAC || error == .wrongMessageSize(expected: length + 16 * ((length + 65_518) / 65_519), got: cipher.count),
                      "unexpected \(error)")
            }
        }
    }
    return 0
}

private func readStream(_ input: inout [UInt8], session: inout NoiseSession) {
    input.withUnsafeMutableBytes { raw in
        var offset = 0
        while raw.count - offset >= NoiseSession.encryptedHeaderSize {
            let headerBytes = UnsafeMutableRawBufferPointer(rebasing: raw[offset..<(offset + NoiseSession.encryptedHeaderSize)])
            guard (try? session.decryptHeader(headerBytes)) != nil else { return }
            let header = Sv2FrameHeader(loadingFrom: headerBytes.baseAddress!)
            offset += NoiseSession.encryptedHeaderSize
            guard header.payloadLength <= 1 << 20 else { return }
            let cipherLength = NoiseSession.encryptedSize(payloadLength: header.payloadLength) - NoiseSession.encryptedHeaderSize
            guard raw.count - offset >= cipherLength else { return }
            let payload = UnsafeMutableRawBufferPointer(rebasing: raw[offset..<(offset + cipherLength)])
            guard (try? session.decryptPayload(payload, plaintextLength: header.payloadLength)) != nil else { return }
            offset += cipherLength
            if let type = header.knownMessageType {
                checkDecodedReencodes(
                    type, payload: Sv2Bytes(unsafeBytes: UnsafeRawBufferPointer(rebasing: payload[0..<header.payloadLength])))
            }
        }
    }
}

@main
enum FuzzTransportMain {
    static func main() {
        exit(sv2_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, { fuzzTransport($0, $1) }))
    }
}
