/// An Sv2 `U256`: 32 raw bytes as they appear on the wire.
///
/// Sv2 stores hashes in Bitcoin's internal byte order and targets as little-endian integers; both are "the 32 bytes
/// as-is", so this type keeps them as four little-endian 64-bit limbs (`limbs.0` holds bytes 0–7). Comparison
/// treats the value as a little-endian 256-bit integer, which is what target checks need.
public struct U256: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Little-endian limbs: `limbs.0` = bytes 0..<8 of the wire form.
    public var limbs: (UInt64, UInt64, UInt64, UInt64)

    /// Zero.
    public static let zero = U256(limbs: (0, 0, 0, 0))
    /// 2^256 − 1 (all bytes 0xff): the easiest possible target.
    public static let max = U256(limbs: (.max, .max, .max, .max))

    /// Creates a value from its four little-endian limbs.
    @inlinable public init(limbs: (UInt64, UInt64, UInt64, UInt64)) { self.limbs = limbs }

    /// Loads 32 bytes from `pointer` (no alignment needed).
    @inlinable public init(loadingFrom pointer: UnsafeRawPointer) {
        limbs = (
            UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        )
    }

    /// Creates a value from exactly 32 wire bytes; `nil` if `bytes` has another length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        let array = Array(bytes)
        self = array.withUnsafeBytes { U256(loadingFrom: $0.baseAddress!) }
    }

    /// Parses 64 hex digits in wire order (the first two digits are byte 0).
    public init?(hex: String) {
        guard hex.utf8.count == 64, let bytes = Sv2Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// Stores the 32 wire bytes at `pointer`.
    @inlinable public func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: limbs.0.littleEndian, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: limbs.1.littleEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: limbs.2.littleEndian, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: limbs.3.littleEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// The 32 wire bytes.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            store(to: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = 32
        }
    }

    /// Hex of the wire bytes (byte 0 first).
    public var description: String { Sv2Hex.encode(bytes) }

    @inlinable public static func == (lhs: U256, rhs: U256) -> Bool {
        lhs.limbs.0 == rhs.limbs.0 && lhs.limbs.1 == rhs.limbs.1 && lhs.limbs.2 == rhs.limbs.2 && lhs.limbs.3 == rhs.limbs.3
    }

    /// Numeric order of the little-endian integers (most significant limb first).
    @inlinable public static func < (lhs: U256, rhs: U256) -> Bool {
        if lhs.limbs.3 != rhs.limbs.3 { return lhs.limbs.3 < rhs.limbs.3 }
        if lhs.limbs.2 != rhs.limbs.2 { return lhs.limbs.2 < rhs.limbs.2 }
        if lhs.limbs.1 != rhs.limbs.1 { return lhs.limbs.1 < rhs.limbs.1 }
        return lhs.limbs.0 < rhs.limbs.0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(limbs.0); hasher.combine(limbs.1); hasher.combine(limbs.2); hasher.combine(limbs.3)
    }
}
