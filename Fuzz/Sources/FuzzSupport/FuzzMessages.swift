import Sv2Codec

/// Every message type, in a fixed order (a fuzz input's first byte picks one modulo the count).
public let allMessageTypes = Sv2MessageType.allCases

/// The encoded frame (header + payload) of a message of `type` generated from `rng`.
public func randomFrame(_ type: Sv2MessageType, rng: inout TestRNG, large: Bool = false) -> [UInt8] {
    let generator = FrameGenerator(rng: rng, large: large)
    try! withMessageType(type, generator)
    rng = generator.box.rng
    return generator.box.frame
}

/// Fails loudly (libFuzzer reports the input) when a property does not hold.
@inline(never)
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("property violated: \(message())") }
}

/// Checks decode(encode(x)) == x, frame splitting and the owned-any path for one message generated from `rng`.
public func checkRoundTrip(_ type: Sv2MessageType, rng: inout TestRNG, large: Bool) {
    let property = RoundTripProperty(rng: rng, large: large)
    try! withMessageType(type, property)
    rng = property.box.rng
}

/// Decodes `payload` as `type`; if it decodes, the owned message must encode again, and canonically: encode(decode(bytes))
/// decodes to the same encoding (the bytes themselves may differ: BOOL uses only bit 0, trailing TLV bytes are dropped
/// and invalid UTF-8 in strings is repaired).
public func checkDecodedReencodes(_ type: Sv2MessageType, payload: Sv2Bytes) {
    guard let message = try? Sv2AnyMessage(type: type, payload: payload) else { return }
    let encoded = encodedPayload(message.message)
    let again = encoded.withUnsafeBytes { try? Sv2AnyMessage(type: type, payload: Sv2Bytes(unsafeBytes: $0)) }
    guard let again else { return check(false, "\(type): canonical encoding does not decode") }
    check(encodedPayload(again.message) == encoded, "\(type): encoding not stable")
}

private func encodedPayload(_ message: some Sv2Message) -> [UInt8] {
    do { return try message.encodedPayload() } catch { fatalError("decoded \(type(of: message)) does not encode: \(error)") }
}

private final class GeneratorBox {
    var rng: TestRNG
    var frame: [UInt8] = []
    init(rng: TestRNG) { self.rng = rng }
}

private struct FrameGenerator: RandomMessageCheck {
    let box: GeneratorBox
    let large: Bool
    init(rng: TestRNG, large: Bool) {
        box = GeneratorBox(rng: rng)
        self.large = large
    }

    func run<M: RandomMessage>(_ type: M.Type) throws {
        box.frame = try M.random(&box.rng, large: large).encodedFrame()
    }
}

private struct RoundTripProperty: RandomMessageCheck {
    let box: GeneratorBox
    let large: Bool
    init(rng: TestRNG, large: Bool) {
        box = GeneratorBox(rng: rng)
        self.large = large
    }

    func run<M: RandomMessage>(_ type: M.Type) throws {
        let message = M.random(&box.rng, large: large)
        let frame = try message.encodedFrame()
        check(frame.count == message.frameSize, "\(M.messageType): frame size \(frame.count) != \(message.frameSize)")
        frame.withUnsafeBytes { raw in
            guard let split = try? Sv2Frame.split(raw) else { return check(false, "\(M.messageType): frame does not split") }
            check(split.size == frame.count, "\(M.messageType): split size")
            check(split.header.knownMessageType == M.messageType, "\(M.messageType): header names \(split.header)")
            check(split.header.isChannelMessage == M.messageType.isChannelMessage, "\(M.messageType): channel bit")
            guard let view = try? M.View(payload: split.payload) else {
                return check(false, "\(M.messageType): encoded message does not decode")
            }
            check(view.trailingBytes.isEmpty, "\(M.messageType): trailing bytes after own encoding")
            let decoded = M(view)
            check(decoded == message, "\(M.messageType): decode(encode(x)) != x: \(message) vs \(decoded)")
            check(decoded.messageChannelID == message.messageChannelID, "\(M.messageType): channel id")
            guard let any = try? Sv2AnyMessage(type: M.messageType, payload: split.payload) else {
                return check(false, "\(M.messageType): Sv2AnyMessage does not decode")
            }
            check((any.message as? M) == message, "\(M.messageType): Sv2AnyMessage differs")
        }
    }
}
