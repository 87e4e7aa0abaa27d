import CCrypto

/// Double SHA-256, Bitcoin's hash for headers, transactions and merkle nodes. Nothing here allocates.
public enum SHA256d {
    /// SHA-256d of arbitrary bytes.
    @inlinable public static func hash(_ bytes: UnsafeRawBufferPointer) -> Hash256 {
        var out = Hash256.zero
        out.withUnsafeMutableBytes { cshimsSHA256d(bytes.baseAddress, bytes.count, $0.baseAddress!) }
        return out
    }

    /// SHA-256d of a byte array.
    @inlinable public static func hash(_ bytes: [UInt8]) -> Hash256 {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// SHA-256d of the 80-byte block header at `header`.
    @inlinable public static func hashHeader(_ header: UnsafeRawPointer) -> Hash256 {
        var out = Hash256.zero
        out.withUnsafeMutableBytes { cshimsSHA256dHeader(header, $0.baseAddress!) }
        return out
    }

    /// One merkle step: SHA-256d(left ‖ right) over the raw 32-byte hashes.
    @inlinable public static func merkleStep(_ left: Hash256, _ right: Hash256) -> Hash256 {
        var pair = (left, right)
        var out = Hash256.zero
        withUnsafeBytes(of: &pair) { raw in
            out.withUnsafeMutableBytes { cshimsMerkleStep(raw.baseAddress!, raw.baseAddress! + 32, $0.baseAddress!) }
        }
        return out
    }
}

// Thin non-inlinable bridges so that `@inlinable` code above does not need the C module in client interfaces.
@usableFromInline func cshimsSHA256d(_ data: UnsafeRawPointer?, _ count: Int, _ out: UnsafeMutableRawPointer) {
    cshims_sha256d(data, count, out.assumingMemoryBound(to: UInt8.self))
}

@usableFromInline func cshimsSHA256dHeader(_ header: UnsafeRawPointer, _ out: UnsafeMutableRawPointer) {
    cshims_sha256d_header(header, out.assumingMemoryBound(to: UInt8.self))
}

@usableFromInline func cshimsMerkleStep(
    _ left: UnsafeRawPointer, _ right: UnsafeRawPointer, _ out: UnsafeMutableRawPointer
) {
    cshims_merkle_step(left, right, out.assumingMemoryBound(to: UInt8.self))
}
