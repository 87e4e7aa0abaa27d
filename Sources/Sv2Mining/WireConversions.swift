import Sv2Codec

/// Conversions between Sv2Codec's wire `U256` and this module's `Hash256`/`Target` (same 32 bytes either way).
enum WireConversions {
    @inline(__always) static func hash(_ value: U256) -> Hash256 {
        var out = Hash256.zero
        out.withUnsafeMutableBytes { value.store(to: $0.baseAddress!) }
        return out
    }

    @inline(__always) static func u256(_ hash: Hash256) -> U256 {
        hash.withUnsafeBytes { U256(loadingFrom: $0.baseAddress!) }
    }

    @inline(__always) static func target(_ value: U256) -> Target {
        Target(UInt256(w0: value.limbs.0, w1: value.limbs.1, w2: value.limbs.2, w3: value.limbs.3))
    }

    @inline(__always) static func u256(_ target: Target) -> U256 {
        U256(limbs: (target.value.w0, target.value.w1, target.value.w2, target.value.w3))
    }
}
