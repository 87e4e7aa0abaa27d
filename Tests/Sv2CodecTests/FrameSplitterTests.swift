import Testing
import Sv2Codec

@Suite("Frame splitting")
struct FrameSplitterTests {
    func frames(count: Int) throws -> ([UInt8], [Int]) {
        var rng = TestRNG(seed: 42)
        var stream: [UInt8] = []
        var sizes: [Int] = []
        for index in 0..<count {
            let frame: [UInt8]
            if index % 2 == 0 {
                frame = try SubmitSharesStandard(channelID: rng.u32(), sequenceNumber: UInt32(index), jobID: 1,
                                                 nonce: rng.u32(), ntime: 2, version: 3).encodedFrame()
            } else {
                frame = try NewExtendedMiningJob.random(&rng, large: false).encodedFrame()
            }
            stream += frame
            sizes.append(frame.count)
        }
        return (stream, sizes)
    }

    @Test func splitsEveryFrameAndKeepsThePartialTail() throws {
        let (stream, sizes) = try frames(count: 50)
        // Feed the stream in every chunking from 1 byte up; the owner keeps unconsumed bytes like the reactor does.
        for chunk in [1, 5, 6, 7, 64, 1000, stream.count] {
            var pending: [UInt8] = []
            var seen: [Int] = []
            var position = 0
            while position < stream.count {
                let end = min(position + chunk, stream.count)
                pending += stream[position..<end]
                position = end
                let consumed = try pending.withUnsafeBytes { raw in
                    var splitter = Sv2FrameSplitter(raw)
                    while let frame = try splitter.next() { seen.append(frame.size) }
                    return splitter.consumed
                }
                pending.removeFirst(consumed)
            }
            #expect(seen == sizes, "chunk \(chunk)")
            #expect(pending.isEmpty)
        }
    }

    @Test func oversizedLengthIsRefusedBeforeBuffering() throws {
        let header = hex("00801a" + "ffffff")
        let error = try #require(throws: Sv2DecodeError.self) {
            try header.withUnsafeBytes { try Sv2Frame.split($0, maximumPayloadLength: 1 << 16) }
        }
        #expect(error.reason == .lengthExceedsLimit(length: 0xff_ffff, limit: 1 << 16))
        #expect(error.message == .submitSharesStandard)
    }

    @Test func incompleteHeaderWaits() throws {
        for n in 0..<6 {
            let bytes = [UInt8](repeating: 0, count: n)
            #expect(try bytes.withUnsafeBytes { try Sv2Frame.split($0) } == nil)
        }
    }

    @Test func unknownMessagesStillSplit() throws {
        let bytes = hex("0040" + "99" + "020000" + "abcd")
        let frame = try #require(try bytes.withUnsafeBytes { try Sv2Frame.split($0) })
        #expect(frame.header.knownMessageType == nil)
        #expect(frame.header.extensionID == 0x4000)
        #expect(frame.payload.count == 2)
    }
}
