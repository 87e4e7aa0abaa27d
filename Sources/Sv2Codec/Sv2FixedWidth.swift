/// An Sv2 element type with a fixed wire width, usable in `SEQ0_255[T]` / `SEQ0_64K[T]` views.
public protocol Sv2FixedWidth: Sendable {
    /// Bytes per element on the wire.
    static var byteWidth: Int { get }
    /// Loads one element from `pointer` (unaligned, little-endian).
    static func load(from pointer: UnsafeRawPointer) -> Self
    /// Stores one element at `pointer` (unaligned, little-endian).
    func store(to pointer: UnsafeMutableRawPointer)
}

extension UInt16: Sv2FixedWidth {
    /// 2 bytes.
    @inlinable public static var byteWidth: Int { 2 }
    /// Little-endian load.
    @inlinable public static func load(from pointer: UnsafeRawPointer) -> UInt16 {
        UInt16(littleEndian: pointer.loadUnaligned(as: UInt16.self))
    }
    /// Little-endian store.
    @inlinable public func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: littleEndian, as: UInt16.self)
    }
}

extension UInt32: Sv2FixedWidth {
    /// 4 bytes.
    @inlinable public static var byteWidth: Int { 4 }
    /// Little-endian load.
    @inlinable public static func load(from pointer: UnsafeRawPointer) -> UInt32 {
        UInt32(littleEndian: pointer.loadUnaligned(as: UInt32.self))
    }
    /// Little-endian store.
    @inlinable public func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: littleEndian, as: UInt32.self)
    }
}

extension U256: Sv2FixedWidth {
    /// 32 bytes.
    @inlinable public static var byteWidth: Int { 32 }
    /// Raw 32-byte load.
    @inlinable public static func load(from pointer: UnsafeRawPointer) -> U256 { U256(loadingFrom: pointer) }
}
