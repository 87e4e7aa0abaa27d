import Sv2Codec
import Sv2Bitcoin

/// Conversions between Sv2Codec's wire `U256` and `Hash256` (the 32 wire bytes as-is, as the mining module keeps
/// them); a copy here because the mining module's own helper is internal to it.
enum JobDeclarationWire {
    /// The hash carried by a wire `U256` (a wtxid, a merkle node, a prev hash).
    static func hash(_ value: U256) -> Hash256 {
        var out = Hash256.zero
        out.withUnsafeMutableBytes { value.store(to: $0.baseAddress!) }
        return out
    }

    /// The wire `U256` of a hash.
    static func u256(_ hash: Hash256) -> U256 {
        hash.withUnsafeBytes { U256(loadingFrom: $0.baseAddress!) }
    }
}
