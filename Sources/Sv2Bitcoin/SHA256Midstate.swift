import CCrypto

/// SHA-256 state after absorbing a fixed message prefix, so per-share work only hashes the varying tail.
///
/// Used for the coinbase of an extended job: the part before the rollable extranonce is hashed once per job.
package struct SHA256Midstate: @unchecked Sendable {
    // A plain C struct of integers; `@unchecked` only because imported C types are not inferred Sendable.
    private var state = cshims_sha256_state()

    /// Absorbs `first` then `second`.
    package init(absorbing first: [UInt8], _ second: UnsafeRawBufferPointer) {
        first.withUnsafeBytes { cshims_sha256_begin(&state, $0.baseAddress, $0.count) }
        cshims_sha256_absorb(&state, second.baseAddress, second.count)
    }

    /// SHA-256d of (absorbed prefix) ‖ `a` ‖ `b`, without changing the state.
    package func finishDouble(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Hash256 {
        var out = Hash256.zero
        withUnsafePointer(to: state) { state in
            out.withUnsafeMutableBytes { raw in
                cshims_sha256d_resume(
                    state, a.baseAddress, a.count, b.baseAddress, b.count,
                    raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }
}
