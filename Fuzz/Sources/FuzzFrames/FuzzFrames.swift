import FuzzDriver
import Glibc
import FuzzSupport
import Sv2Codec

/// Frame splitter + every message decoder.
///
/// Input byte 0 below the number of message types: the rest is one payload for that type's decoder.
/// Otherwise the rest is a byte stream split into frames (byte 0's low bit picks the 16 MiB or a 4 KiB limit), and
/// every frame of a known type is decoded. Decoded messages must re-encode canonically.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let selector = Int(bytes[0])
    let rest = UnsafeRawBufferPointer(rebasing: bytes[1...])
    if selector < allMessageTypes.count {
        checkDecodedReencodes(allMessageTypes[selector], payload: Sv2Bytes(unsafeBytes: rest))
        return 0
    }
    let limit = selector & 1 == 0 ? Sv2FrameHeader.maximumPayloadLength : 4096
    var splitter = Sv2FrameSplitter(rest, maximumPayloadLength: limit)
    while true {
        let frame: Sv2Frame?
        do { frame = try splitter.next() } catch {
            check(error.field.description == "msg_length", "splitter error on \(error.field)")
            break
        }
        guard let frame else { break }
        check(frame.payload.count <= limit, "frame above the limit")
        check(splitter.consumed <= rest.count, "splitter ran past the input")
        _ = frame.header.description
        if let type = frame.header.knownMessageType {
            checkDecodedReencodes(type, payload: frame.payload)
        }
    }
    return 0
}

@main
enum FuzzFramesMain {
    static func main() {
        exit(sv2_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, { fuzzFrames($0, $1) }))
    }
}
