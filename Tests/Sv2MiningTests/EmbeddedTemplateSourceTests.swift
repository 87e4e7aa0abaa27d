import Testing
@testable import Sv2Mining

@Suite struct EmbeddedTemplateSourceTests {
    static let regtestGenesis = Hash256(displayHex: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")!
    static let extranonce = Extranonce(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!

    /// Mines the current template on the CPU; returns the header that meets the tip's target.
    static func mine(_ source: EmbeddedTemplateSource) throws -> BlockHeader {
        let template = source.template
        let coinbase = try Coinbase(
            template: template, tag: Array("Sv2/test/".utf8), extranonceLength: 8,
            poolOutputs: [TxOutput(value: template.coinbaseTxValueRemaining, script: [Script.opTrue])])
        let txid = coinbase.txid(extranonce: extranonce)
        let root = MerkleRoot.compute(coinbaseTxid: txid, path: template.merklePath)
        // The path agrees with the full tree over coinbase + the source's transactions.
        #expect(root == MerkleRoot.compute(txids: [txid] + source.transactionIDs))
        var header = BlockHeader(
            version: template.version, prevHash: source.chainTip.prevHash, merkleRoot: root,
            ntime: source.chainTip.headerTimestamp, nbits: source.chainTip.nbits, nonce: 0)
        while !source.chainTip.target.isMet(by: header.hash) { header.nonce += 1 }
        return header
    }

    @Test func initialTemplateAndTip() {
        let source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: 1_700_000_000)
        #expect(source.height == 1)
        #expect(source.template.futureTemplate && source.template.templateID == 1)
        #expect(source.chainTip.templateID == 1 && source.chainTip.prevHash == Self.regtestGenesis)
        #expect(source.chainTip.nbits == 0x207f_ffff && source.chainTip.target == Target(compact: 0x207f_ffff)!)
        #expect(source.template.coinbasePrefix == [0x51]) // BIP34 height 1 = OP_1
        #expect(source.template.coinbaseTxValueRemaining == 5_000_000_000 + 3_000)
        #expect(source.template.merklePath.count == 2) // 4 transactions including the coinbase
    }

    @Test func witnessCommitmentOutput() {
        let source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: 0)
        let outputs = source.template.coinbaseTxOutputs
        #expect(source.template.coinbaseTxOutputsCount == 1)
        #expect(outputs.count == 8 + 1 + 38)
        #expect(Array(outputs[0..<8]) == [UInt8](repeating: 0, count: 8))
        #expect(Array(outputs[8..<15]) == [0x26, 0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
        let witnessRoot = MerkleRoot.compute(txids: [.zero] + source.transactionIDs)
        #expect(Array(outputs[15...]) == SHA256d.hash(witnessRoot.bytes + [UInt8](repeating: 0, count: 32)).bytes)
        let withTrue = EmbeddedTemplateSource(
            configuration: .init(includesAnyoneCanSpendOutput: true), prevHash: Self.regtestGenesis, now: 0)
        #expect(withTrue.template.coinbaseTxOutputsCount == 2)
        #expect(withTrue.template.coinbaseTxOutputs.suffix(10) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51])
    }

    @Test func foundBlockBecomesNewPrevHash() throws {
        var source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: 1_700_000_000)
        let clock = ContinuousClock()
        let started = clock.now
        for expectedHeight: UInt32 in 1...50 {
            #expect(source.height == expectedHeight)
            #expect(source.template.coinbasePrefix == Script.pushNumber(Int64(expectedHeight)))
            let header = try Self.mine(source)
            let (template, tip) = try source.submit(header, now: 1_700_000_000)
            #expect(tip.prevHash == header.hash)
            #expect(tip.templateID == template.templateID && template.futureTemplate)
            #expect(tip.headerTimestamp > header.ntime)
        }
        #expect(source.height == 51 && source.template.templateID == 51)
        #expect(clock.now - started < .seconds(1))
    }

    @Test func rejectsBlocksOffTipOrWithoutWork() throws {
        var source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: 1_700_000_000)
        var header = try Self.mine(source)
        var wrongPrev = header
        wrongPrev.prevHash = .zero
        #expect(throws: EmbeddedTemplateSource.BlockError.notOnTip(expected: Self.regtestGenesis, got: .zero)) {
            try source.submit(wrongPrev, now: 0)
        }
        while source.chainTip.target.isMet(by: header.hash) { header.nonce += 1 }
        #expect(throws: EmbeddedTemplateSource.BlockError.insufficientWork(hash: header.hash)) {
            try source.submit(header, now: 0)
        }
        #expect(source.height == 1)
    }

    @Test func subsidyHalvesEvery150Blocks() {
        let source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: 0)
        #expect(source.subsidy(at: 149) == 5_000_000_000)
        #expect(source.subsidy(at: 150) == 2_500_000_000)
        #expect(source.subsidy(at: 300) == 1_250_000_000)
        #expect(source.subsidy(at: 150 * 64) == 0)
        let later = EmbeddedTemplateSource(height: 150, prevHash: Self.regtestGenesis, now: 0)
        #expect(later.template.coinbaseTxValueRemaining == 2_500_000_000 + 3_000)
        #expect(later.template.coinbasePrefix == [0x02, 0x96, 0x00])
    }

    @Test func refreshGivesNonFutureTemplateForSameTip() throws {
        var source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: 0)
        let first = source.template
        let refreshed = source.refresh()
        #expect(!refreshed.futureTemplate && refreshed.templateID == first.templateID + 1)
        #expect(refreshed.merklePath != first.merklePath && refreshed.coinbasePrefix == first.coinbasePrefix)
        // Still mineable on the same tip.
        let header = try Self.mine(source)
        #expect(throws: Never.self) { try source.submit(header, now: 0) }
    }
}
