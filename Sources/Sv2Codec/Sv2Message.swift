/// An owned Sv2 message: a plain value that can be stored, compared and encoded into any buffer.
///
/// Each message has a zero-copy `View` that decodes the same bytes in place; `init(_ view:)` copies a view into an
/// owned value when it must outlive the receive buffer.
public protocol Sv2Message: Sendable, Equatable {
    /// The zero-copy view type of this message.
    associatedtype View: Sv2MessageView where View.Message == Self
    /// Which message this is (extension, type byte, channel bit).
    static var messageType: Sv2MessageType { get }
    /// Payload size in bytes (without the frame header).
    var encodedSize: Int { get }
    /// The channel this message is addressed to, or `nil` for non-channel messages.
    var messageChannelID: UInt32? { get }
    /// Encodes the payload at the writer's position.
    func encode(into writer: inout Sv2Writer) throws(Sv2EncodeError)
    /// Copies a decoded view.
    init(_ view: View)
}

/// A zero-copy view of one message's payload, valid only while the payload's storage is: during the handler call
/// that received it (see `Sv2Bytes`, the type its byte strings come as).
public protocol Sv2MessageView {
    /// The owned message type.
    associatedtype Message: Sv2Message where Message.View == Self
    /// Decodes `payload` in place, checking every length against it.
    init(payload: Sv2Bytes) throws(Sv2DecodeError)
    /// Bytes after the known fields (extension TLVs); usually empty.
    var trailingBytes: Sv2Bytes { get }
}

/// Which subprotocol (or extension) a message belongs to.
public enum Sv2MessageGroup: Sendable, Hashable {
    /// SetupConnection and friends (valid with every subprotocol).
    case common
    /// Mining protocol.
    case mining
    /// Job Declaration protocol.
    case jobDeclaration
    /// Template Distribution protocol.
    case templateDistribution
    /// Extension 0x0001, extensions negotiation.
    case extensionsNegotiation

    /// The subprotocol a connection must be set up for to exchange these messages (`nil` = any).
    public var requiredProtocol: Sv2Protocol? {
        switch self {
        case .mining: .mining
        case .jobDeclaration: .jobDeclaration
        case .templateDistribution: .templateDistribution
        case .common, .extensionsNegotiation: nil
        }
    }
}

/// Generic code over every message type (see `Sv2MessageType.accept(_:)`).
public protocol Sv2MessageTypeVisitor {
    /// What a visit produces.
    associatedtype Result
    /// Called with the owned Swift type of the visited message.
    mutating func visit<Message: Sv2Message>(_ type: Message.Type) -> Result
}

extension Sv2Message {
    /// Decodes an owned message from a payload.
    public init(decoding payload: Sv2Bytes) throws(Sv2DecodeError) {
        self.init(try View(payload: payload))
    }

    /// Decodes an owned message from payload bytes.
    public init(decoding payload: [UInt8]) throws(Sv2DecodeError) {
        let result: Result<Self, Sv2DecodeError> = payload.withUnsafeBytes { raw in
            Result { () throws(Sv2DecodeError) in try Self(decoding: Sv2Bytes(unsafeBytes: raw)) }
        }
        self = try result.get()
    }

    /// The frame header for this message (channel bit set for channel messages).
    public var frameHeader: Sv2FrameHeader {
        Sv2FrameHeader(messageType: Self.messageType, payloadLength: encodedSize)
    }

    /// Header plus payload size.
    public var frameSize: Int { Sv2FrameHeader.size + encodedSize }

    /// Encodes header and payload at the start of `buffer`; returns the bytes written.
    @inlinable public func encodeFrame(into buffer: UnsafeMutableRawBufferPointer) throws(Sv2EncodeError) -> Int {
        let size = encodedSize
        guard size <= Sv2FrameHeader.maximumPayloadLength else {
            throw Sv2EncodeError(
                message: Self.messageType, field: "msg_length",
                reason: .lengthExceedsLimit(length: size, limit: Sv2FrameHeader.maximumPayloadLength))
        }
        var writer = Sv2Writer(buffer, message: Self.messageType)
        try Sv2FrameHeader(messageType: Self.messageType, payloadLength: size).encode(into: &writer)
        try encode(into: &writer)
        return writer.offset
    }

    /// The payload bytes (allocates; for tools and tests).
    public func encodedPayload() throws(Sv2EncodeError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: encodedSize)
        let result: Result<Void, Sv2EncodeError> = out.withUnsafeMutableBytes { raw in
            Result { () throws(Sv2EncodeError) in
                var writer = Sv2Writer(raw, message: Self.messageType)
                try encode(into: &writer)
            }
        }
        try result.get()
        return out
    }

    /// Header plus payload bytes (allocates; for tools and tests).
    public func encodedFrame() throws(Sv2EncodeError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: frameSize)
        let result: Result<Int, Sv2EncodeError> = out.withUnsafeMutableBytes { raw in
            Result { () throws(Sv2EncodeError) in try encodeFrame(into: raw) }
        }
        _ = try result.get()
        return out
    }
}
