/// One plain Sv2 frame found in a byte buffer: header plus a slice of the payload (no copy).
public struct Sv2Frame {
    /// The decoded header.
    public let header: Sv2FrameHeader
    /// The payload bytes, pointing into the buffer the frame was split from (valid while that buffer is).
    public let payload: Sv2Bytes

    /// Creates a frame from its parts.
    @inlinable public init(header: Sv2FrameHeader, payload: Sv2Bytes) {
        self.header = header
        self.payload = payload
    }

    /// Header plus payload size.
    @inlinable public var size: Int { Sv2FrameHeader.size + payload.count }

    /// The first frame at the start of `bytes`, or `nil` if `bytes` does not yet hold a whole frame.
    ///
    /// Throws when the header announces a payload larger than `maximumPayloadLength` — the length field is
    /// never trusted beyond what the caller is willing to buffer.
    @inlinable public static func split(
        _ bytes: UnsafeRawBufferPointer, maximumPayloadLength: Int = Sv2FrameHeader.maximumPayloadLength
    ) throws(Sv2DecodeError) -> Sv2Frame? {
        guard bytes.count >= Sv2FrameHeader.size, let base = bytes.baseAddress else { return nil }
        let header = Sv2FrameHeader(loadingFrom: base)
        guard header.payloadLength <= maximumPayloadLength else {
            throw Sv2DecodeError(
                message: header.knownMessageType, field: "msg_length", offset: 3,
                reason: .lengthExceedsLimit(length: header.payloadLength, limit: maximumPayloadLength))
        }
        guard bytes.count - Sv2FrameHeader.size >= header.payloadLength else { return nil }
        return Sv2Frame(
            header: header,
            payload: Sv2Bytes(uncheckedStart: base + Sv2FrameHeader.size, count: header.payloadLength))
    }
}

/// Iterates the whole frames at the start of a buffer; `consumed` tells how many bytes they covered, so the owner
/// can keep the partial frame that may follow.
public struct Sv2FrameSplitter {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline let maximumPayloadLength: Int
    /// Bytes covered by the frames returned so far.
    public var consumed: Int { position }
    @usableFromInline var position = 0

    /// Creates a splitter over `bytes`.
    @inlinable public init(_ bytes: UnsafeRawBufferPointer, maximumPayloadLength: Int = Sv2FrameHeader.maximumPayloadLength) {
        self.bytes = bytes
        self.maximumPayloadLength = maximumPayloadLength
    }

    /// The next whole frame, or `nil` when only a partial frame (or nothing) is left.
    @inlinable public mutating func next() throws(Sv2DecodeError) -> Sv2Frame? {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
        guard let frame = try Sv2Frame.split(rest, maximumPayloadLength: maximumPayloadLength) else { return nil }
        position += frame.size
        return frame
    }
}
