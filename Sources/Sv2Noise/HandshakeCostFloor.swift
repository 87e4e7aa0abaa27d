import CSecp256k1

/// The secp256k1 work issue 16 holds a fresh-key responder handshake against: 3 BIP324 x-only ECDHs (on an
/// already decoded peer key: point multiplication plus the tagged hash), 1 key generation with its ElligatorSwift
/// encoding and 1 BIP340 signature, with the same primitives the responder uses and no allocation.
///
/// For the `sv2 loadtest handshakes` benchmark only (SPI): the responder's time is reported as a ratio to this floor
/// measured in the same run.
@_spi(Benchmarks) public struct HandshakeCostFloor {
    private var secretKey: [UInt8]
    private let peerEncoding: [UInt8]
    private let peerX: [UInt8]
    private let ownEncoding: [UInt8]
    private let keypair: [UInt8]
    private let randomness: [UInt8]

    /// Random keys for the rounds.
    public init() throws(Sv2NoiseError) {
        secretKey = try Secp256k1.generateSecretKey()
        peerEncoding = try Secp256k1.ellSwiftEncoding(secretKey: Secp256k1.generateSecretKey(), randomness: Secp256k1.randomBytes(32))
        peerX = Secp256k1.xOnly(ellSwift: peerEncoding)
        ownEncoding = try Secp256k1.ellSwiftEncoding(secretKey: secretKey, randomness: Secp256k1.randomBytes(32))
        keypair = try Secp256k1.keypair(secretKey: Secp256k1.generateSecretKey())
        randomness = try Secp256k1.randomBytes(32)
    }

    /// One round of the floor's work; returns a byte of its output so the optimiser keeps it. The secret key changes
    /// by one each round (as the responder's do), staying valid with overwhelming probability.
    public mutating func run() -> UInt8 {
        let context = Secp256k1.context
        secretKey[31] &+= 1
        var out: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var encoding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var signature = encoding
        var accumulator: UInt8 = 0
        withUnsafeMutableBytes(of: &out) { o in
            let o = o.baseAddress!.assumingMemoryBound(to: UInt8.self)
            for _ in 0..<3 {
                _ = cshims_ellswift_xdh_decoded(context, o, peerEncoding, ownEncoding, peerX, secretKey)
                accumulator ^= o[0]
            }
            var pub = secp256k1_pubkey()
            _ = secp256k1_ec_pubkey_create(context, &pub, secretKey)
            withUnsafeMutableBytes(of: &encoding) { e in
                _ = cshims_ellswift_encode(context, e.baseAddress!.assumingMemoryBound(to: UInt8.self), &pub, randomness)
                accumulator ^= e[0]
            }
            var pair = secp256k1_keypair()
            withUnsafeMutableBytes(of: &pair) { $0.copyBytes(from: keypair) }
            withUnsafeMutableBytes(of: &signature) { s in
                _ = secp256k1_schnorrsig_sign32(context, s.baseAddress!.assumingMemoryBound(to: UInt8.self), o, &pair, randomness)
                accumulator ^= s[0]
            }
        }
        return accumulator
    }
}
