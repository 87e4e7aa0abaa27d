/// The pool authority's BIP340 x-only public key, the only long-term identity clients pin.
///
/// Its text form (spec §4.7) is base58check of `01 00 ‖ x-only key` (a 2-byte little-endian version 1).
public struct AuthorityPublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The 32-byte x-only key.
    public let xOnly: [UInt8]

    /// Wraps a 32-byte x-only key; throws ``Sv2NoiseError/invalidKey`` if it is not on the curve.
    public init(xOnly: [UInt8]) throws(Sv2NoiseError) {
        guard Secp256k1.isValidXOnly(xOnly) else { throw .invalidKey }
        self.xOnly = xOnly
    }

    /// Parses the base58check text form (e.g. `9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh`).
    public init(base58Check text: String) throws(Sv2NoiseError) {
        guard let payload = Base58Check.decode(text), payload.count == 34, payload[0] == 1, payload[1] == 0 else {
            throw .invalidKey
        }
        try self.init(xOnly: Array(payload[2...]))
    }

    /// The base58check text form.
    public var base58Check: String { Base58Check.encode([1, 0] + xOnly) }

    /// Same as ``base58Check``.
    public var description: String { base58Check }
}
