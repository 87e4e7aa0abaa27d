/// A bounds-checked little-endian cursor that encodes straight into a caller-provided buffer (a connection's write
/// buffer, a scratch frame): no intermediate arrays. With `Sv2Reader`, the only raw-pointer code of the codec.
public struct Sv2Writer {
    @usableFromInline let base: UnsafeMutableRawPointer?
    @usableFromInline let capacity: Int
    /// Bytes written so far.
    public var offset: Int { cursor }
    @usableFromInline var cursor: Int
    /// The message being written, for error reports.
    public let message: Sv2MessageType?

    /// Creates a writer that fills `buffer` from its start.
    @inlinable public init(_ buffer: UnsafeMutableRawBufferPointer, message: Sv2MessageType? = nil) {
        base = buffer.baseAddress
        capacity = buffer.count
        cursor = 0
        self.message = message
    }

    @inlinable mutating func reserve(_ needed: Int, _ field: StaticString) throws(Sv2EncodeError) -> UnsafeMutableRawPointer {
        guard needed <= capacity - cursor, let base else {
            throw Sv2EncodeError(
                message: message, field: field, reason: .bufferTooSmall(needed: cursor + needed, available: capacity))
        }
        let pointer = base + cursor
        cursor += needed
        return pointer
    }

    /// Writes a `U8`.
    @inlinable public mutating func writeU8(_ value: UInt8, _ field: StaticString) throws(Sv2EncodeError) {
        try reserve(1, field).storeBytes(of: value, as: UInt8.self)
    }

    /// Writes a little-endian `U16`.
    @inlinable public mutating func writeU16(_ value: UInt16, _ field: StaticString) throws(Sv2EncodeError) {
        try reserve(2, field).storeBytes(of: value.littleEndian, as: UInt16.self)
    }

    /// Writes a little-endian `U24`; `value` must be below 2^24 (callers check their limits first).
    @inlinable public mutating func writeU24(_ value: UInt32, _ field: StaticString) throws(Sv2EncodeError) {
        precondition(value <= 0xFF_FFFF, "U24 out of range")
        let p = try reserve(3, field)
        p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        p.storeBytes(of: UInt8(truncatingIfNeeded: value >> 8), toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: UInt8(truncatingIfNeeded: value >> 16), toByteOffset: 2, as: UInt8.self)
    }

    /// Writes a little-endian `U32`.
    @inlinable public mutating func writeU32(_ value: UInt32, _ field: StaticString) throws(Sv2EncodeError) {
        try reserve(4, field).storeBytes(of: value.littleEndian, as: UInt32.self)
    }

    /// Writes a little-endian `U64`.
    @inlinable public mutating func writeU64(_ value: UInt64, _ field: StaticString) throws(Sv2EncodeError) {
        try reserve(8, field).storeBytes(of: value.littleEndian, as: UInt64.self)
    }

    /// Writes an `F32`.
    @inlinable public mutating func writeF32(_ value: Float, _ field: StaticString) throws(Sv2EncodeError) {
        try writeU32(value.bitPattern, field)
    }

    /// Writes a `BOOL` as 0 or 1.
    @inlinable public mutating func writeBool(_ value: Bool, _ field: StaticString) throws(Sv2EncodeError) {
        try writeU8(value ? 1 : 0, field)
    }

    /// Writes a `U256`.
    @inlinable public mutating func writeU256(_ value: U256, _ field: StaticString) throws(Sv2EncodeError) {
        value.store(to: try reserve(32, field))
    }

    @inlinable mutating func writeLength(
        _ length: Int, width: Int, limit: Int, _ field: StaticString
    ) throws(Sv2EncodeError) {
        guard length <= limit else {
            throw Sv2EncodeError(message: message, field: field, reason: .lengthExceedsLimit(length: length, limit: limit))
        }
        switch width {
        case 1: try writeU8(UInt8(length), field)
        case 2: try writeU16(UInt16(length), field)
        default: try writeU24(UInt32(length), field)
        }
    }

    /// Writes a length-prefixed byte string; throws if it is longer than `limit`.
    @inlinable public mutating func writeBytes(
        _ bytes: UnsafeRawBufferPointer, prefixWidth: Int, limit: Int, _ field: StaticString
    ) throws(Sv2EncodeError) {
        try writeLength(bytes.count, width: prefixWidth, limit: limit, field)
        try writeRaw(bytes, field)
    }

    /// Writes a length-prefixed byte string from an array.
    @inlinable public mutating func writeBytes(
        _ bytes: [UInt8], prefixWidth: Int, limit: Int, _ field: StaticString
    ) throws(Sv2EncodeError) {
        try writeLength(bytes.count, width: prefixWidth, limit: limit, field)
        try writeRaw(bytes, field)
    }

    /// Writes a length-prefixed byte string from a received view (forwarding without an owned copy).
    @inlinable public mutating func writeBytes(
        _ bytes: Sv2Bytes, prefixWidth: Int, limit: Int, _ field: StaticString
    ) throws(Sv2EncodeError) {
        try bytes.withUnsafeBytes { (raw) throws(Sv2EncodeError) in
            try writeBytes(raw, prefixWidth: prefixWidth, limit: limit, field)
        }
    }

    /// Writes a `STR0_255` (UTF-8 bytes of `string`, U8 length prefix).
    @inlinable public mutating func writeString(_ string: String, _ field: StaticString) throws(Sv2EncodeError) {
        var copy = string
        let result: Result<Void, Sv2EncodeError> = copy.withUTF8 { utf8 in
            Result { () throws(Sv2EncodeError) in
                try writeBytes(UnsafeRawBufferPointer(utf8), prefixWidth: 1, limit: 255, field)
            }
        }
        try result.get()
    }

    /// Writes raw bytes with no prefix.
    @inlinable public mutating func writeRaw(_ bytes: UnsafeRawBufferPointer, _ field: StaticString) throws(Sv2EncodeError) {
        let destination = try reserve(bytes.count, field)
        if let source = bytes.baseAddress, bytes.count > 0 {
            destination.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// Writes the bytes of a received view with no prefix.
    @inlinable public mutating func writeRaw(_ bytes: Sv2Bytes, _ field: StaticString) throws(Sv2EncodeError) {
        try bytes.withUnsafeBytes { (raw) throws(Sv2EncodeError) in try writeRaw(raw, field) }
    }

    /// Writes raw bytes from an array with no prefix.
    @inlinable public mutating func writeRaw(_ bytes: [UInt8], _ field: StaticString) throws(Sv2EncodeError) {
        let destination = try reserve(bytes.count, field)
        bytes.withUnsafeBytes { raw in
            if let source = raw.baseAddress, raw.count > 0 { destination.copyMemory(from: source, byteCount: raw.count) }
        }
    }

    /// Writes an `OPTION[U32]`.
    @inlinable public mutating func writeOptionalU32(_ value: UInt32?, _ field: StaticString) throws(Sv2EncodeError) {
        if let value {
            try writeU8(1, field)
            try writeU32(value, field)
        } else {
            try writeU8(0, field)
        }
    }

    /// Writes `SEQ0_255[T]` (`countWidth` 1) or `SEQ0_64K[T]` (`countWidth` 2) of fixed-width elements.
    @inlinable public mutating func writeSequence<Element: Sv2FixedWidth>(
        _ elements: [Element], countWidth: Int, _ field: StaticString
    ) throws(Sv2EncodeError) {
        try writeLength(elements.count, width: countWidth, limit: countWidth == 1 ? 255 : 65535, field)
        let width = Sv2FixedWidthCoding.byteWidth(of: Element.self)
        let destination = try reserve(elements.count * width, field)
        for (index, element) in elements.enumerated() {
            Sv2FixedWidthCoding.store(element, to: destination + index * width)
        }
    }

    /// Writes `SEQ0_64K[B0_16M]`.
    @inlinable public mutating func writeByteStringSequence(
        _ elements: [[UInt8]], _ field: StaticString
    ) throws(Sv2EncodeError) {
        try writeLength(elements.count, width: 2, limit: 65535, field)
        for element in elements {
            try writeBytes(element, prefixWidth: 3, limit: 0xFF_FFFF, field)
        }
    }
}
