/// A zero-copy view of a decoded `SEQ0_64K[B0_16M]` (transaction lists). Every element's length was checked when
/// the message was decoded, so iteration cannot fail. Valid only while the payload it points into is (see
/// `Sv2Bytes` for what that means).
public struct Sv2ByteStringSequence: Sequence {
    @usableFromInline let bytes: Sv2Bytes
    /// Number of byte strings.
    public let count: Int

    @inlinable init(validated bytes: Sv2Bytes, count: Int) {
        self.bytes = bytes
        self.count = count
    }

    /// Iterates the byte strings in order.
    public struct Iterator: IteratorProtocol {
        @usableFromInline var offset = 0
        @usableFromInline var left: Int
        @usableFromInline let bytes: Sv2Bytes

        @inlinable init(bytes: Sv2Bytes, count: Int) {
            self.bytes = bytes
            left = count
        }

        /// The next byte string (a slice of the payload).
        @inlinable public mutating func next() -> Sv2Bytes? {
            guard left > 0 else { return nil }
            left -= 1
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16
            let slice = bytes.extracting((offset + 3)..<(offset + 3 + length))
            offset += 3 + length
            return slice
        }
    }

    /// An iterator over the byte strings.
    @inlinable public func makeIterator() -> Iterator { Iterator(bytes: bytes, count: count) }
}
