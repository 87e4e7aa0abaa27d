import Sv2Codec
import Sv2Bitcoin
import Sv2Mining
import Testing
@testable import Sv2LoadTest

/// The reference pool's extended job, checked against a merkle root computed independently of `ShareJob`.
struct ReferencePoolTests {
    @Test(arguments: [0, 4, 8, 28])
    func extendedJobMerkleRootCommitsToTheWholeCoinbase(rollable: Int) throws {
        let prefix = ReferencePool.extranoncePrefix(channel: 0x0102_0304)
        #expect(prefix == [1, 2, 3, 4])
        let coinbase = ReferencePool.coinbase(rollable: rollable)
        let parts = coinbase.parts(witness: false)
        let rolled = try #require(Extranonce(bytes: (0..<rollable).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }))
        let job = ShareJob(
            extendedJobID: 1, version: ReferencePool.version, versionRollingAllowed: true,
            prevHash: ReferencePool.prevHash, coinbasePrefix: parts.prefix,
            extranoncePrefix: try #require(Extranonce(bytes: prefix)), extranonceSize: rollable,
            coinbaseSuffix: parts.suffix, merklePath: ReferencePool.merklePath, nbits: ReferencePool.nbits,
            minNtime: ReferencePool.minNtime, target: .max)
        // Independently: serialize the whole coinbase, hash it, then walk the path with plain SHA-256d.
        let whole = try #require(Extranonce(bytes: prefix + rolled.bytes))
        var root = SHA256d.hash(parts.prefix + whole.bytes + parts.suffix)
        #expect(root == coinbase.txid(extranonce: whole))
        for sibling in ReferencePool.merklePath { root = SHA256d.hash(root.bytes + sibling.bytes) }
        #expect(job.merkleRoot(extranonce: rolled) == root)
        // A different extranonce gives a different root (the pool cannot accept a share for the wrong coinbase).
        var other = rolled.bytes
        if !other.isEmpty { other[0] ^= 0xff }
        if rollable > 0 { #expect(job.merkleRoot(extranonce: try #require(Extranonce(bytes: other))) != root) }
    }
}
