/// A bounds-checked little-endian cursor over one message payload; with `Sv2Bytes` and `Sv2Writer`, one of the few
/// places in the codec that touch raw pointers.
///
/// Every read checks the remaining length first and throws a typed `Sv2DecodeError` naming the field, so a hostile
/// length prefix can never cause an over-read. Byte strings come back as `Sv2Bytes` slices of the payload: nothing
/// is copied, and the slices are valid only while the payload's storage is.
public struct Sv2Reader {
    @usableFromInline let base: UnsafeRawPointer?
    @usableFromInline let count: Int
    /// Bytes consumed so far.
    public var offset: Int { cursor }
    @usableFromInline var cursor: Int
    /// The message being read, for error reports.
    public let message: Sv2MessageType?

    /// Creates a reader over `payload`.
    @inlinable public init(_ payload: Sv2Bytes, message: Sv2MessageType?) {
        base = payload.base
        count = payload.count
        cursor = 0
        self.message = message
    }

    /// Bytes not yet consumed.
    @inlinable public var remainingCount: Int { count - cursor }

    /// The unconsumed rest of the payload (e.g. extension TLVs after the known fields).
    @inlinable public var remainingBytes: Sv2Bytes {
        Sv2Bytes(uncheckedStart: base.map { $0 + cursor }, count: count - cursor)
    }

    @inlinable func failure(_ field: StaticString, _ reason: Sv2DecodeError.Reason) -> Sv2DecodeError {
        Sv2DecodeError(message: message, field: field, offset: cursor, reason: reason)
    }

    /// Checks that `needed` bytes remain and returns a pointer to them.
    @inlinable mutating func take(_ needed: Int, _ field: StaticString) throws(Sv2DecodeError) -> UnsafeRawPointer {
        guard needed <= count - cursor, let base else {
            throw failure(field, .truncated(needed: needed, available: count - cursor))
        }
        let pointer = base + cursor
        cursor += needed
        return pointer
    }

    /// Reads a `U8`.
    @inlinable public mutating func readU8(_ field: StaticString) throws(Sv2DecodeError) -> UInt8 {
        try take(1, field).load(as: UInt8.self)
    }

    /// Reads a little-endian `U16`.
    @inlinable public mutating func readU16(_ field: StaticString) throws(Sv2DecodeError) -> UInt16 {
        UInt16(littleEndian: try take(2, field).loadUnaligned(as: UInt16.self))
    }

    /// Reads a little-endian `U24` (frame length, `B0_16M` prefix).
    @inlinable public mutating func readU24(_ field: StaticString) throws(Sv2DecodeError) -> UInt32 {
        let p = try take(3, field)
        return UInt32(p.load(as: UInt8.self)) | UInt32(p.load(fromByteOffset: 1, as: UInt8.self)) << 8
            | UInt32(p.load(fromByteOffset: 2, as: UInt8.self)) << 16
    }

    /// Reads a little-endian `U32`.
    @inlinable public mutating func readU32(_ field: StaticString) throws(Sv2DecodeError) -> UInt32 {
        UInt32(littleEndian: try take(4, field).loadUnaligned(as: UInt32.self))
    }

    /// Reads a little-endian `U64`.
    @inlinable public mutating func readU64(_ field: StaticString) throws(Sv2DecodeError) -> UInt64 {
        UInt64(littleEndian: try take(8, field).loadUnaligned(as: UInt64.self))
    }

    /// Reads an IEEE-754 `F32` (little-endian bit pattern).
    @inlinable public mutating func readF32(_ field: StaticString) throws(Sv2DecodeError) -> Float {
        Float(bitPattern: try readU32(field))
    }

    /// Reads a `BOOL`; like SRI, only bit 0 counts.
    @inlinable public mutating func readBool(_ field: StaticString) throws(Sv2DecodeError) -> Bool {
        try readU8(field) & 1 == 1
    }

    /// Reads a `U256` (32 raw bytes).
    @inlinable public mutating func readU256(_ field: StaticString) throws(Sv2DecodeError) -> U256 {
        U256(loadingFrom: try take(32, field))
    }

    /// Reads a length prefix of `width` bytes (1, 2 or 3).
    @inlinable mutating func readLength(width: Int, _ field: StaticString) throws(Sv2DecodeError) -> Int {
        switch width {
        case 1: Int(try readU8(field))
        case 2: Int(try readU16(field))
        default: Int(try readU24(field))
        }
    }

    /// Reads a length-prefixed byte string (`STR0_255`, `B0_32`, `B0_255`, `B0_64K`, `B0_16M`) as a slice of the
    /// payload. `limit` is the type's maximum length (32 for `B0_32`).
    @inlinable public mutating func readBytes(
        prefixWidth: Int, limit: Int, _ field: StaticString
    ) throws(Sv2DecodeError) -> Sv2Bytes {
        let start = cursor
        let length = try readLength(width: prefixWidth, field)
        guard length <= limit else {
            cursor = start
            throw failure(field, .lengthExceedsLimit(length: length, limit: limit))
        }
        return Sv2Bytes(uncheckedStart: try take(length, field), count: length)
    }

    /// Reads an `OPTION[U32]`.
    @inlinable public mutating func readOptionalU32(_ field: StaticString) throws(Sv2DecodeError) -> UInt32? {
        let tag = try readU8(field)
        switch tag {
        case 0: return nil
        case 1: return try readU32(field)
        default:
            cursor -= 1
            throw failure(field, .invalidOptionTag(tag))
        }
    }

    /// Reads `SEQ0_255[T]` (`countWidth` 1) or `SEQ0_64K[T]` (`countWidth` 2) of fixed-width elements.
    @inlinable public mutating func readSequence<Element: Sv2FixedWidth>(
        of _: Element.Type, countWidth: Int, _ field: StaticString
    ) throws(Sv2DecodeError) -> Sv2FixedWidthSequence<Element> {
        let count = try readLength(width: countWidth, field)
        let bytes = count * Sv2FixedWidthCoding.byteWidth(of: Element.self)
        return Sv2FixedWidthSequence(start: try take(bytes, field), count: count)
    }

    /// Reads `SEQ0_64K[B0_16M]` (transaction lists), checking every element's length now so that iterating the
    /// result cannot fail later.
    @inlinable public mutating func readByteStringSequence(
        _ field: StaticString
    ) throws(Sv2DecodeError) -> Sv2ByteStringSequence {
        let count = try readLength(width: 2, field)
        let start = cursor
        for _ in 0..<count {
            _ = try readBytes(prefixWidth: 3, limit: 0xFF_FFFF, field)
        }
        let slice = Sv2Bytes(uncheckedStart: base.map { $0 + start }, count: cursor - start)
        return Sv2ByteStringSequence(validated: slice, count: count)
    }
}
