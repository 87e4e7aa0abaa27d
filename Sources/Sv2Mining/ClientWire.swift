import Sv2Codec

/// Conversions between the codec's wire `U256` and this module's `Hash256` / `Target`, for the client side.
///
/// Both sides keep "the 32 wire bytes as-is", so these are plain byte copies (no allocation).
enum ClientWire {
    /// The hash carried by a wire `U256` (prev hash, merkle node, merkle root).
    @inlinable static func hash(_ value: U256) -> Hash256 {
        var hash = Hash256.zero
        hash.withUnsafeMutableBytes { value.store(to: $0.baseAddress!) }
        return hash
    }

    /// The wire `U256` of a hash.
    @inlinable static func u256(_ hash: Hash256) -> U256 {
        hash.withUnsafeBytes { U256(loadingFrom: $0.baseAddress!) }
    }

    /// The target carried by a wire `U256` (a little-endian integer).
    @inlinable static func target(_ value: U256) -> Target {
        Target(UInt256(w0: value.limbs.0, w1: value.limbs.1, w2: value.limbs.2, w3: value.limbs.3))
    }

    /// The wire `U256` of a target.
    @inlinable static func u256(_ target: Target) -> U256 {
        U256(limbs: (target.value.w0, target.value.w1, target.value.w2, target.value.w3))
    }

    /// A wire byte string as an extranonce; `nil` when longer than 32 bytes.
    static func extranonce(_ bytes: UnsafeRawBufferPointer) -> Extranonce? {
        Extranonce(copying: bytes)
    }
}
