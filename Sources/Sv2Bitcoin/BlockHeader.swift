/// An 80-byte Bitcoin block header.
public struct BlockHeader: Hashable, Sendable {
    /// Serialized size in bytes.
    public static let size = 80

    /// Block version (BIP9/BIP320 bits included).
    public var version: UInt32
    /// Previous block hash, raw byte order.
    public var prevHash: Hash256
    /// Merkle root, raw byte order.
    public var merkleRoot: Hash256
    /// Block timestamp (Unix seconds).
    public var ntime: UInt32
    /// Compact target.
    public var nbits: UInt32
    /// Nonce.
    public var nonce: UInt32

    /// Creates a header from its fields.
    @inlinable public init(
        version: UInt32, prevHash: Hash256, merkleRoot: Hash256, ntime: UInt32, nbits: UInt32, nonce: UInt32
    ) {
        self.version = version
        self.prevHash = prevHash
        self.merkleRoot = merkleRoot
        self.ntime = ntime
        self.nbits = nbits
        self.nonce = nonce
    }

    /// Parses 80 serialized bytes; `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == BlockHeader.size else { return nil }
        self = bytes.withUnsafeBytes { raw in
            BlockHeader(
                version: UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)),
                prevHash: Hash256(copying: raw.baseAddress! + 4),
                merkleRoot: Hash256(copying: raw.baseAddress! + 36),
                ntime: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 68, as: UInt32.self)),
                nbits: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 72, as: UInt32.self)),
                nonce: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 76, as: UInt32.self)))
        }
    }

    /// Writes the 80-byte consensus serialization at `pointer`.
    @inlinable public func serialize(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: version.littleEndian, as: UInt32.self)
        prevHash.store(to: pointer + 4)
        merkleRoot.store(to: pointer + 36)
        pointer.storeBytes(of: ntime.littleEndian, toByteOffset: 68, as: UInt32.self)
        pointer.storeBytes(of: nbits.littleEndian, toByteOffset: 72, as: UInt32.self)
        pointer.storeBytes(of: nonce.littleEndian, toByteOffset: 76, as: UInt32.self)
    }

    /// The 80-byte consensus serialization.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: BlockHeader.size) { buffer, count in
            serialize(to: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = BlockHeader.size
        }
    }

    /// The block hash: SHA-256d of the serialization (raw byte order). Uses a stack buffer, no allocation.
    @inlinable public var hash: Hash256 {
        // Ten words = 80 bytes of inline storage.
        var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &storage) { raw in
            serialize(to: raw.baseAddress!)
            return SHA256d.hashHeader(raw.baseAddress!)
        }
    }
}
