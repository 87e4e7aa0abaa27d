import Sv2Codec

/// A 32-byte hash in raw (internal) byte order, exactly as SHA-256d outputs it and as Sv2 `U256` fields carry it.
///
/// Stored as four 64-bit words holding the raw bytes in memory order, so it is a trivial value (no
/// allocation, no reference counting). Block explorers display hashes byte-reversed; see ``displayHex``.
public struct Hash256: Hashable, Sendable, CustomStringConvertible {
    // Raw bytes 0..<8, 8..<16, 16..<24, 24..<32 in memory order (not numeric words on big-endian hosts).
    @usableFromInline package var w0: UInt64
    @usableFromInline package var w1: UInt64
    @usableFromInline package var w2: UInt64
    @usableFromInline package var w3: UInt64

    /// The all-zero hash (e.g. the coinbase input's previous outpoint, the genesis block's prev hash).
    public static let zero = Hash256(w0: 0, w1: 0, w2: 0, w3: 0)

    @inlinable package init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Copies 32 raw bytes starting at `pointer`.
    @inlinable public init(copying pointer: UnsafeRawPointer) {
        w0 = pointer.loadUnaligned(as: UInt64.self)
        w1 = pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// Creates a hash from exactly 32 raw bytes; `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var value = Hash256.zero
        value.withUnsafeMutableBytes { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        self = value
    }

    /// Parses 64 hex digits in raw byte order; `nil` if malformed.
    public init?(hex: some StringProtocol) {
        guard let bytes = Sv2Hex.decode(String(hex)), let value = Hash256(bytes: bytes) else { return nil }
        self = value
    }

    /// Parses 64 hex digits in display order (as block explorers and RPC print hashes); `nil` if malformed.
    public init?(displayHex: some StringProtocol) {
        guard let bytes = Sv2Hex.decode(String(displayHex)), let value = Hash256(bytes: bytes.reversed()) else {
            return nil
        }
        self = value
    }

    /// The 32 raw bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Hex of the raw bytes.
    public var hex: String { Sv2Hex.encode(bytes) }

    /// Hex of the byte-reversed hash, the order explorers and Bitcoin Core RPC display.
    public var displayHex: String { Sv2Hex.encode(bytes.reversed()) }

    public var description: String { displayHex }

    /// Calls `body` with the 32 raw bytes.
    @inlinable public func withUnsafeBytes<R, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        var copy = self
        return try Swift.withUnsafeBytes(of: &copy) { (raw) throws(E) -> R in try body(raw) }
    }

    /// Calls `body` with the 32 raw bytes, writable.
    @inlinable public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try Swift.withUnsafeMutableBytes(of: &self) { (raw) throws(E) -> R in try body(raw) }
    }

    /// Writes the 32 raw bytes at `pointer`.
    @inlinable public func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: w0, as: UInt64.self)
        pointer.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
    }

    /// The hash read as a little-endian 256-bit integer, the reading proof-of-work comparisons use.
    @inlinable public var numericValue: UInt256 {
        UInt256(
            w0: UInt64(littleEndian: w0), w1: UInt64(littleEndian: w1),
            w2: UInt64(littleEndian: w2), w3: UInt64(littleEndian: w3))
    }
}
