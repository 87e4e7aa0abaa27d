import Foundation
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool

struct StripVector: Decodable {
    let name: String
    let prefix: String
    let suffix: String
    let strippedPrefix: String?
    let strippedSuffix: String?
}

@Suite struct CoinbaseTests {
    static func stripVectors() throws -> [StripVector] {
        try JSONDecoder().decode([StripVector].self, from: vectorData("bip141_strip.json"))
    }

    @Test func sriStripVectors() throws {
        let vectors = try Self.stripVectors()
        #expect(vectors.count == 3)
        for vector in vectors {
            let parts = CoinbaseParts(prefix: hexBytes(vector.prefix), suffix: hexBytes(vector.suffix))
            let stripped = try parts.strippingWitness()
            if let expectedPrefix = vector.strippedPrefix, let expectedSuffix = vector.strippedSuffix {
                #expect(stripped?.prefix == hexBytes(expectedPrefix), "\(vector.name)")
                #expect(stripped?.suffix == hexBytes(expectedSuffix), "\(vector.name)")
            } else {
                #expect(stripped == nil, "\(vector.name)")
            }
        }
    }

    @Test func stripRejectsTruncatedParts() {
        #expect(throws: CoinbaseError.truncated(part: "coinbase_tx_prefix", length: 3)) {
            try CoinbaseParts(prefix: [2, 0, 0], suffix: []).strippingWitness()
        }
        #expect(throws: CoinbaseError.truncated(part: "coinbase_tx_suffix", length: 10)) {
            try CoinbaseParts(prefix: [2, 0, 0, 0, 0, 1], suffix: [UInt8](repeating: 0, count: 10)).strippingWitness()
        }
    }

    /// The SRI pool coinbase of the `sri_not_yet_stripped` vector, rebuilt from its template pieces.
    static func sriCoinbase() throws -> Coinbase {
        try Coinbase(
            version: 2, scriptSigPrefix: [0x02, 0x45, 0x08, 0x00], tag: Array("/Stratum V2 SRI Pool//".utf8),
            extranonceLength: 32, sequence: 0xffff_fffe,
            poolOutputs: [TxOutput(value: 5_000_000_000, script: hexBytes("0014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc"))],
            templateOutputs: hexBytes(
                "0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"),
            templateOutputCount: 1, locktime: 0x0844)
    }

    @Test func rebuildsSRIPoolCoinbaseBytes() throws {
        let vector = try #require(try Self.stripVectors().first { $0.name == "sri_not_yet_stripped" })
        let coinbase = try Self.sriCoinbase()
        #expect(coinbase.scriptSigLength == 60)
        let withWitness = coinbase.parts(witness: true)
        #expect(hexString(withWitness.prefix) == vector.prefix)
        #expect(hexString(withWitness.suffix) == vector.suffix)
        let stripped = coinbase.parts(witness: false)
        #expect(hexString(stripped.prefix) == vector.strippedPrefix)
        #expect(hexString(stripped.suffix) == vector.strippedSuffix)
        #expect(try withWitness.strippingWitness() == stripped)
    }

    @Test func txidIgnoresWitnessButWtxidDoesNot() throws {
        var coinbase = try Self.sriCoinbase()
        let extranonce = Extranonce(bytes: (0..<32).map { UInt8($0) })!
        let txid = coinbase.txid(extranonce: extranonce)
        let wtxid = coinbase.wtxid(extranonce: extranonce)
        #expect(txid != wtxid)
        let parts = coinbase.parts(witness: false)
        #expect(txid == SHA256d.hash(parts.prefix + extranonce.bytes + parts.suffix))
        coinbase.witnessReservedValue = Hash256(bytes: [UInt8](repeating: 7, count: 32))!
        #expect(coinbase.txid(extranonce: extranonce) == txid)
        #expect(coinbase.wtxid(extranonce: extranonce) != wtxid)
        // A different extranonce changes the txid.
        #expect(coinbase.txid(extranonce: Extranonce(bytes: [UInt8](repeating: 1, count: 32))!) != txid)
    }

    @Test func rejectsOversizedScriptSigAndExtranonce() {
        // An 80-byte tag needs OP_PUSHDATA1: 2 + 80 bytes.
        #expect(throws: CoinbaseError.scriptSigLength(4 + 82 + 1 + 16)) {
            try Coinbase(
                version: 2, scriptSigPrefix: [3, 1, 2, 3], tag: [UInt8](repeating: 0x41, count: 80),
                extranonceLength: 16, sequence: 0, poolOutputs: [], templateOutputs: [], templateOutputCount: 0,
                locktime: 0)
        }
        #expect(throws: CoinbaseError.extranonceTooLong(length: 33)) {
            try Coinbase(
                version: 2, scriptSigPrefix: [], tag: [], extranonceLength: 33, sequence: 0, poolOutputs: [],
                templateOutputs: [], templateOutputCount: 0, locktime: 0)
        }
    }

    @Test func scriptNumberPushesMatchBitcoinCore() {
        #expect(Script.pushNumber(0) == [0x00])
        #expect(Script.pushNumber(1) == [0x51])
        #expect(Script.pushNumber(16) == [0x60])
        #expect(Script.pushNumber(17) == [0x01, 0x11])
        #expect(Script.pushNumber(127) == [0x01, 0x7f])
        #expect(Script.pushNumber(128) == [0x02, 0x80, 0x00])
        #expect(Script.pushNumber(256) == [0x02, 0x00, 0x01])
        #expect(Script.pushNumber(2117) == [0x02, 0x45, 0x08])
        #expect(Script.pushNumber(500_000) == [0x03, 0x20, 0xa1, 0x07])
        #expect(Script.pushNumber(-5) == [0x01, 0x85])
        #expect(Script.push([UInt8](repeating: 1, count: 80)).prefix(2) == [0x4c, 80])
    }

    @Test func compactSizeRoundTrips() {
        for value: UInt64 in [0, 0xfc, 0xfd, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000] {
            var buffer: [UInt8] = []
            CompactSize.append(value, to: &buffer)
            let decoded = CompactSize.read(buffer)
            #expect(decoded?.value == value && decoded?.length == buffer.count)
        }
        #expect(CompactSize.read([0xfd, 0x01]) == nil)
    }

    @Test func extranonceInlineStorage() {
        let a = Extranonce(bytes: [1, 2, 3])!
        let b = Extranonce(bytes: [4, 5])!
        let joined = a.appending(b)!
        #expect(joined.bytes == [1, 2, 3, 4, 5])
        #expect(a.isPrefix(of: joined) && !b.isPrefix(of: joined))
        #expect(Extranonce(bytes: [UInt8](repeating: 0, count: 33)) == nil)
        #expect(Extranonce(bytes: [UInt8](repeating: 0, count: 30))!.appending(a) == nil)
        #expect(Extranonce(bytes: [1, 0])! != Extranonce(bytes: [1])!)
    }
}
