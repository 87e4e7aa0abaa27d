import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2TemplateProvider

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
            // min_ntime is the median of the last 11 block times + 1 (Bitcoin Core's mintime).
            #expect(tip.headerTimestamp == EmbeddedTemplateSource.minimumTime(after: source.recentBlockTimes))
            #expect(tip.headerTimestamp > source.recentBlockTimes.sorted()[source.recentBlockTimes.count / 2])
        }
        #expect(source.height == 51 && source.template.templateID == 51)
        #expect(clock.now - started < .seconds(1))
    }

    /// Mines the current template with `ntime` (a device's own clock), whatever the tip's header_timestamp says.
    static func mine(_ source: EmbeddedTemplateSource, ntime: UInt32) throws -> BlockHeader {
        var header = try mine(source)
        header.ntime = ntime
        header.nonce = 0
        while !source.chainTip.target.isMet(by: header.hash) { header.nonce += 1 }
        return header
    }

    @Test func medianTimePast() {
        #expect(EmbeddedTemplateSource.minimumTime(after: [5]) == 6)
        #expect(EmbeddedTemplateSource.minimumTime(after: [9, 1, 5]) == 6)
        // Eleven times, unsorted: the median is the 6th smallest.
        #expect(EmbeddedTemplateSource.minimumTime(after: [11, 1, 10, 2, 9, 3, 8, 4, 7, 5, 6]) == 7)
        #expect(EmbeddedTemplateSource.minimumTime(after: [.max]) == .max)
    }

    /// SRI's mining_device stamps its own clock + 60 s and ignores min_ntime. Finding 3 blocks a second, every one
    /// of them must stay consensus-valid and every later share's ntime must stay at or above min_ntime. With the
    /// old rule (previous block's ntime + 1) the second block of each second was below min_ntime, and min_ntime ran
    /// ahead of the device's clock.
    @Test func deviceWithFastClockKeepsFindingBlocks() throws {
        let start: UInt32 = 1_700_000_000
        var source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: start)
        #expect(source.chainTip.headerTimestamp == start)
        for block in 0..<90 {
            let clock = start + UInt32(block / 3)  // 3 blocks per second
            let deviceTime = clock + 60
            #expect(deviceTime >= source.chainTip.headerTimestamp, "block \(block): min_ntime ran ahead of the device")
            let header = try Self.mine(source, ntime: deviceTime)
            let (_, tip) = try source.submit(header, now: clock)
            #expect(tip.headerTimestamp <= deviceTime + 1)
        }
        #expect(source.height == 91)
        #expect(source.recentBlockTimes.count == EmbeddedTemplateSource.medianTimeSpan)
    }

    @Test func blockTimesOutsideConsensusRangeAreRefused() throws {
        let start: UInt32 = 1_700_000_000
        var source = EmbeddedTemplateSource(prevHash: Self.regtestGenesis, now: start)
        let old = try Self.mine(source, ntime: start - 1)
        #expect(throws: EmbeddedTemplateSource.BlockError.timeTooOld(ntime: start - 1, minimum: start)) {
            try source.submit(old, now: start)
        }
        let future = try Self.mine(source, ntime: start + 7_201)
        #expect(throws: EmbeddedTemplateSource.BlockError.timeTooNew(ntime: start + 7_201, maximum: start + 7_200)) {
            try source.submit(future, now: start)
        }
        let edge = try Self.mine(source, ntime: start + 7_200)
        _ = try source.submit(edge, now: start)
        #expect(source.height == 2)
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
