/// An Sv2 element type with a fixed wire width, usable in `SEQ0_255[T]` / `SEQ0_64K[T]` views: `UInt16`, `UInt32`
/// (little-endian on the wire) and ``U256`` (32 raw bytes).
///
/// The set is closed and the protocol has no requirements: the wire coding lives in this module
/// (`Sv2FixedWidthCoding`), not on the element types, so conforming the standard library's integers gives them no
/// members in the code of anyone who imports Sv2Codec.
public protocol Sv2FixedWidth: BitwiseCopyable, Sendable {}

extension UInt16: Sv2FixedWidth {}
extension UInt32: Sv2FixedWidth {}
extension U256: Sv2FixedWidth {}

/// Loads and stores the elements of fixed-width sequences. Every branch is on `Element.self`, which specialization
/// resolves at compile time: the hot path sees one unaligned load or store.
@usableFromInline enum Sv2FixedWidthCoding {
    /// Bytes per element on the wire (2, 4 or 32: the in-memory size of each conforming type).
    @inlinable static func byteWidth<Element: Sv2FixedWidth>(of _: Element.Type) -> Int {
        MemoryLayout<Element>.size
    }

    /// Loads one element from `pointer` (unaligned; integers little-endian).
    @inlinable static func load<Element: Sv2FixedWidth>(_: Element.Type, from pointer: UnsafeRawPointer) -> Element {
        if Element.self == UInt16.self {
            return unsafeBitCast(UInt16(littleEndian: pointer.loadUnaligned(as: UInt16.self)), to: Element.self)
        }
        if Element.self == UInt32.self {
            return unsafeBitCast(UInt32(littleEndian: pointer.loadUnaligned(as: UInt32.self)), to: Element.self)
        }
        if Element.self == U256.self {
            return unsafeBitCast(U256(loadingFrom: pointer), to: Element.self)
        }
        preconditionFailure("Sv2FixedWidth is implemented by UInt16, UInt32 and U256 only, not \(Element.self)")
    }

    /// Stores one element at `pointer` (unaligned; integers little-endian).
    @inlinable static func store<Element: Sv2FixedWidth>(_ element: Element, to pointer: UnsafeMutableRawPointer) {
        if Element.self == UInt16.self {
            pointer.storeBytes(of: unsafeBitCast(element, to: UInt16.self).littleEndian, as: UInt16.self)
        } else if Element.self == UInt32.self {
            pointer.storeBytes(of: unsafeBitCast(element, to: UInt32.self).littleEndian, as: UInt32.self)
        } else if Element.self == U256.self {
            unsafeBitCast(element, to: U256.self).store(to: pointer)
        } else {
            preconditionFailure("Sv2FixedWidth is implemented by UInt16, UInt32 and U256 only, not \(Element.self)")
        }
    }
}
