public import Sv2Codec
public import Sv2Bitcoin

/// Up to 32 extranonce bytes held inline (no allocation), as Sv2 `B0_32` extranonce fields carry them.
///
/// Used for extranonce prefixes handed to channels and for the rollable part a share submits.
public struct Extranonce: Hashable, Sendable, CustomStringConvertible {
    /// The most bytes an extranonce (prefix and rollable part together) may have in Sv2 (SRI `MAX_EXTRANONCE_LEN`).
    public static let maxLength = 32

    // Raw bytes in memory order; bytes past `count` are always zero so synthesized equality is exact.
    @usableFromInline var storage: Hash256
    /// Number of bytes.
    public let count: Int

    /// The empty extranonce.
    public static let empty = Extranonce(storage: .zero, count: 0)

    @inlinable init(storage: Hash256, count: Int) {
        self.storage = storage
        self.count = count
    }

    /// Copies `bytes`; `nil` if there are more than 32.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count <= Extranonce.maxLength else { return nil }
        var storage = Hash256.zero
        storage.withUnsafeMutableBytes { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        self.init(storage: storage, count: bytes.count)
    }

    /// Copies `buffer`; `nil` if it holds more than 32 bytes. Does not allocate.
    @inlinable public init?(copying buffer: UnsafeRawBufferPointer) {
        guard buffer.count <= Extranonce.maxLength else { return nil }
        var storage = Hash256.zero
        storage.withUnsafeMutableBytes { raw in
            if let base = buffer.baseAddress { raw.baseAddress!.copyMemory(from: base, byteCount: buffer.count) }
        }
        self.init(storage: storage, count: buffer.count)
    }

    /// Copies a received byte string (e.g. a share's `extranonce`); `nil` if it holds more than 32 bytes. Does not
    /// allocate.
    @inlinable public init?(copying bytes: Sv2Bytes) {
        guard let copy = bytes.withUnsafeBytes({ Extranonce(copying: $0) }) else { return nil }
        self = copy
    }

    /// The bytes as an array.
    public var bytes: [UInt8] { storage.withUnsafeBytes { Array($0.prefix(count)) } }

    /// Calls `body` with the `count` bytes.
    @inlinable public func withUnsafeBytes<R, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        let count = self.count
        return try storage.withUnsafeBytes { (raw) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: raw.prefix(count)))
        }
    }

    /// This extranonce followed by `other`; `nil` if the result would exceed 32 bytes.
    public func appending(_ other: Extranonce) -> Extranonce? {
        guard count + other.count <= Extranonce.maxLength else { return nil }
        var storage = self.storage
        let offset = count
        other.withUnsafeBytes { source in
            storage.withUnsafeMutableBytes { raw in
                if let base = source.baseAddress {
                    (raw.baseAddress! + offset).copyMemory(from: base, byteCount: source.count)
                }
            }
        }
        return Extranonce(storage: storage, count: count + other.count)
    }

    /// True when `other` starts with these bytes.
    public func isPrefix(of other: Extranonce) -> Bool {
        count <= other.count && other.bytes.prefix(count).elementsEqual(bytes)
    }

    /// Hex of the bytes.
    public var description: String { Sv2Hex.encode(bytes) }
}
