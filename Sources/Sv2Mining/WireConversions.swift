package import Sv2Codec
package import Sv2Bitcoin

/// Conversions between Sv2Codec's wire `U256` and this module's `Hash256` / `Target`, for the pool and the
/// client side alike.
///
/// Both sides keep "the 32 wire bytes as-is", so these are plain byte copies (no allocation).
package enum WireConversions {
    /// The hash carried by a wire `U256` (prev hash, merkle node, merkle root).
    @inline(__always) package static func hash(_ value: U256) -> Hash256 {
        var out = Hash256.zero
        out.withUnsafeMutableBytes { value.store(to: $0.baseAddress!) }
        return out
    }

    /// The wire `U256` of a hash.
    @inline(__always) package static func u256(_ hash: Hash256) -> U256 {
        hash.withUnsafeBytes { U256(loadingFrom: $0.baseAddress!) }
    }

    /// The target carried by a wire `U256` (a little-endian integer).
    @inline(__always) package static func target(_ value: U256) -> Target {
        Target(UInt256(w0: value.limbs.0, w1: value.limbs.1, w2: value.limbs.2, w3: value.limbs.3))
    }

    /// The wire `U256` of a target.
    @inline(__always) package static func u256(_ target: Target) -> U256 {
        U256(limbs: (target.value.w0, target.value.w1, target.value.w2, target.value.w3))
    }
}
