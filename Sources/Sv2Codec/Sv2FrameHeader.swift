/// The 6-byte Sv2 frame header: `extension_type` U16 (bit 15 = channel message), `msg_type` U8, `msg_length` U24.
public struct Sv2FrameHeader: Sendable, Hashable, CustomStringConvertible {
    /// Header size on the wire.
    public static let size = 6
    /// The channel-message bit of `extension_type` (SRI's `CHANNEL_MSG_MASK`; the MSB of the U16).
    public static let channelMessageBit: UInt16 = 0x8000
    /// Largest payload a U24 length can describe.
    public static let maximumPayloadLength = 0xFF_FFFF

    /// `extension_type` as on the wire, channel bit included.
    public var extensionType: UInt16
    /// `msg_type`.
    public var messageType: UInt8
    /// `msg_length`: payload bytes (plaintext length, also on encrypted connections).
    public var payloadLength: Int

    /// Creates a header from raw fields.
    @inlinable public init(extensionType: UInt16, messageType: UInt8, payloadLength: Int) {
        self.extensionType = extensionType
        self.messageType = messageType
        self.payloadLength = payloadLength
    }

    /// Creates the header of a known message, setting the channel bit as the message requires.
    @inlinable public init(messageType: Sv2MessageType, payloadLength: Int) {
        extensionType = messageType.extensionType | (messageType.isChannelMessage ? Self.channelMessageBit : 0)
        self.messageType = messageType.messageTypeByte
        self.payloadLength = payloadLength
    }

    /// Reads a header from the first 6 bytes at `pointer` (the caller checked there are 6).
    @inlinable public init(loadingFrom pointer: UnsafeRawPointer) {
        extensionType = UInt16(littleEndian: pointer.loadUnaligned(as: UInt16.self))
        messageType = pointer.load(fromByteOffset: 2, as: UInt8.self)
        payloadLength = Int(pointer.load(fromByteOffset: 3, as: UInt8.self))
            | Int(pointer.load(fromByteOffset: 4, as: UInt8.self)) << 8
            | Int(pointer.load(fromByteOffset: 5, as: UInt8.self)) << 16
    }

    /// Whether the channel bit is set.
    @inlinable public var isChannelMessage: Bool { extensionType & Self.channelMessageBit != 0 }
    /// The extension id without the channel bit (0 for core messages).
    @inlinable public var extensionID: UInt16 { extensionType & ~Self.channelMessageBit }
    /// The known message this header announces, if any.
    @inlinable public var knownMessageType: Sv2MessageType? {
        Sv2MessageType(extensionType: extensionType, messageType: messageType)
    }

    /// Writes the header; `payloadLength` must fit in a U24.
    @inlinable public func encode(into writer: inout Sv2Writer) throws(Sv2EncodeError) {
        try writer.writeU16(extensionType, "extension_type")
        try writer.writeU8(messageType, "msg_type")
        guard payloadLength >= 0, payloadLength <= Self.maximumPayloadLength else {
            throw Sv2EncodeError(
                message: knownMessageType, field: "msg_length",
                reason: .lengthExceedsLimit(length: payloadLength, limit: Self.maximumPayloadLength))
        }
        try writer.writeU24(UInt32(payloadLength), "msg_length")
    }

    /// Stores the header at `pointer` (6 bytes; `payloadLength` must fit in a U24).
    @inlinable public func store(to pointer: UnsafeMutableRawPointer) {
        precondition(payloadLength >= 0 && payloadLength <= Self.maximumPayloadLength, "msg_length exceeds U24")
        pointer.storeBytes(of: extensionType.littleEndian, as: UInt16.self)
        pointer.storeBytes(of: messageType, toByteOffset: 2, as: UInt8.self)
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: payloadLength), toByteOffset: 3, as: UInt8.self)
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: payloadLength >> 8), toByteOffset: 4, as: UInt8.self)
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: payloadLength >> 16), toByteOffset: 5, as: UInt8.self)
    }

    public var description: String {
        let name = knownMessageType.map { "\($0)" } ?? "unknown(ext 0x\(String(extensionID, radix: 16)), type 0x\(String(messageType, radix: 16)))"
        return "\(name)\(isChannelMessage ? " [channel]" : "") len \(payloadLength)"
    }
}
