import Foundation
import Testing
@testable import Sv2Bitcoin
import CCrypto

struct MainnetBlock: Decodable {
    let height: Int
    let version: UInt32
    let prevHash: String
    let merkleRoot: String
    let ntime: UInt32
    let nbits: UInt32
    let nonce: UInt32
    let hash: String
    let txids: [String]
    let headerHex: String
}

func mainnetBlocks() throws -> [MainnetBlock] {
    try JSONDecoder().decode([MainnetBlock].self, from: vectorData("mainnet_blocks.json"))
}

/// Deterministic pseudo-random bytes (SplitMix64) so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

@Suite struct HashingTests {
    @Test func sha256dKnownValues() {
        #expect(SHA256d.hash([]).hex == "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456")
        #expect(SHA256d.hash(Array("abc".utf8)).hex == "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358")
    }

    @Test func headerFastPathMatchesGenericHash() {
        var rng = SplitMix64(state: 1)
        for _ in 0..<200 {
            let header = rng.bytes(80)
            let fast = header.withUnsafeBytes { SHA256d.hashHeader($0.baseAddress!) }
            #expect(fast == SHA256d.hash(header))
        }
    }

    @Test func merkleStepMatchesGenericHash() {
        var rng = SplitMix64(state: 2)
        for _ in 0..<100 {
            let left = Hash256(bytes: rng.bytes(32))!, right = Hash256(bytes: rng.bytes(32))!
            #expect(SHA256d.merkleStep(left, right) == SHA256d.hash(left.bytes + right.bytes))
        }
    }

    @Test func resumableStateMatchesOneShot() {
        var rng = SplitMix64(state: 3)
        for prefixLength in [0, 1, 55, 63, 64, 65, 120, 200] {
            for (aLength, bLength) in [(0, 0), (8, 40), (32, 100), (3, 61)] {
                let prefix = rng.bytes(prefixLength), a = rng.bytes(aLength), b = rng.bytes(bLength)
                var state = cshims_sha256_state()
                cshims_sha256_begin(&state, prefix, prefix.count)
                var out = [UInt8](repeating: 0, count: 32)
                cshims_sha256d_resume(&state, a, a.count, b, b.count, &out)
                #expect(out == SHA256d.hash(prefix + a + b).bytes)
                // The state is reusable: a second resume gives the same answer.
                var again = [UInt8](repeating: 0, count: 32)
                cshims_sha256d_resume(&state, a, a.count, b, b.count, &again)
                #expect(again == out)
            }
        }
    }

    /// What the extended-job path and the Sv1 load test rely on: a midstate over `coinb1 ‖ extranonce1`, finished
    /// with `extranonce2 ‖ coinb2`, is the coinbase's SHA-256d.
    @Test func midstateOverTwoPartsMatchesTheWholeHash() {
        var rng = SplitMix64(state: 5)
        for (firstLength, secondLength) in [(0, 0), (41, 4), (60, 8), (64, 0), (100, 16), (130, 3)] {
            let first = rng.bytes(firstLength), second = rng.bytes(secondLength)
            let a = rng.bytes(8), b = rng.bytes(70)
            let midstate = second.withUnsafeBytes { SHA256Midstate(absorbing: first, $0) }
            let hash = a.withUnsafeBytes { a in b.withUnsafeBytes { b in midstate.finishDouble(a, b) } }
            #expect(hash == SHA256d.hash(first + second + a + b))
        }
    }

    @Test func mainnetHeadersHashAndRoundTrip() throws {
        for block in try mainnetBlocks() {
            let header = BlockHeader(
                version: block.version, prevHash: Hash256(displayHex: block.prevHash)!,
                merkleRoot: Hash256(displayHex: block.merkleRoot)!, ntime: block.ntime, nbits: block.nbits,
                nonce: block.nonce)
            #expect(hexString(header.bytes) == block.headerHex, "block \(block.height)")
            #expect(header.hash.displayHex == block.hash, "block \(block.height)")
            #expect(BlockHeader(bytes: header.bytes) == header)
            // The block meets its own nbits target.
            #expect(Target(compact: block.nbits)!.isMet(by: header.hash))
        }
    }

    @Test func mainnetMerkleRootsAndCoinbasePath() throws {
        for block in try mainnetBlocks() {
            let txids = block.txids.map { Hash256(displayHex: $0)! }
            let root = Hash256(displayHex: block.merkleRoot)!
            #expect(MerkleRoot.compute(txids: txids) == root)
            let path = MerkleRoot.coinbasePath(transactionIDs: Array(txids.dropFirst()))
            #expect(path.count == 2)
            #expect(MerkleRoot.compute(coinbaseTxid: txids[0], path: path) == root)
        }
    }

    @Test(arguments: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33])
    func coinbasePathAgreesWithFullTree(otherTransactions: Int) {
        var rng = SplitMix64(state: UInt64(otherTransactions) + 10)
        let txids = (0...otherTransactions).map { _ in Hash256(bytes: rng.bytes(32))! }
        let path = MerkleRoot.coinbasePath(transactionIDs: Array(txids.dropFirst()))
        #expect(MerkleRoot.compute(coinbaseTxid: txids[0], path: path) == MerkleRoot.compute(txids: txids))
        // Depth is ⌈log2(n)⌉ for n transactions including the coinbase.
        let n = otherTransactions + 1
        #expect(path.count == (n == 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount))
    }

    @Test func hashHexOrders() {
        let hash = Hash256(displayHex: "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d")!
        #expect(hash.bytes.last == 0 && hash.bytes.first == 0x1d)
        #expect(Hash256(hex: hash.hex) == hash)
        #expect(Hash256(hex: "00") == nil && Hash256(hex: String(repeating: "zz", count: 32)) == nil)
    }
}
