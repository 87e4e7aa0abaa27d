/// A zero-copy view of a decoded `SEQ0_255[T]` / `SEQ0_64K[T]` of fixed-width elements (merkle paths, channel id
/// lists). Valid only while the payload it points into is (see `Sv2Bytes` for what that means).
public struct Sv2FixedWidthSequence<Element: Sv2FixedWidth>: RandomAccessCollection {
    @usableFromInline let base: UnsafeRawPointer?
    /// Number of elements.
    public let count: Int

    /// Creates a view of `count` elements starting at `start` (already bounds-checked by the reader).
    @inlinable init(start: UnsafeRawPointer?, count: Int) {
        base = start
        self.count = count
    }

    /// 0.
    @inlinable public var startIndex: Int { 0 }
    /// `count`.
    @inlinable public var endIndex: Int { count }

    /// The element at `position`, loaded from the payload.
    @inlinable public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < count, "Sv2FixedWidthSequence index out of range")
        return Sv2FixedWidthCoding.load(Element.self, from: base! + position * Sv2FixedWidthCoding.byteWidth(of: Element.self))
    }

    /// The raw wire bytes of the elements (without the count prefix).
    @inlinable public var rawBytes: Sv2Bytes {
        Sv2Bytes(uncheckedStart: base, count: count * Sv2FixedWidthCoding.byteWidth(of: Element.self))
    }
}
