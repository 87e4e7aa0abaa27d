public import Sv2Bitcoin
public import Sv2Mining

/// A self-contained template provider for regtest-style demos and tests (served on the network by ``EmbeddedTemplateProvider``).
///
/// It produces what a Template Provider would send: a future `BlockTemplate` plus the `TemplateChainTip`
/// that activates it, at an easy `nbits` (regtest 0x207fffff: half of all hashes are blocks) so a CPU finds
/// blocks in microseconds. When a block is found, its hash becomes the new previous hash and the height advances.
/// Templates carry a few deterministic fake transactions, so the merkle path is non-trivial, and a witness
/// commitment over their (fake) wtxids.
public struct EmbeddedTemplateSource: Sendable {
    /// Knobs of the embedded source.
    public struct Configuration: Sendable, Hashable {
        /// Compact network target (regtest by default).
        public var nbits: UInt32
        /// Header version (BIP9 top bits).
        public var version: UInt32
        /// Blocks per subsidy halving (150 on regtest).
        public var halvingInterval: UInt32
        /// Fake non-coinbase transactions per template.
        public var transactionCount: Int
        /// Fee credited per fake transaction, in satoshis.
        public var feePerTransaction: UInt64
        /// Also emit an anyone-can-spend (`OP_TRUE`, zero value) template output.
        public var includesAnyoneCanSpendOutput: Bool

        /// Creates a configuration; defaults are regtest-like.
        public init(
            nbits: UInt32 = 0x207f_ffff, version: UInt32 = 0x2000_0000, halvingInterval: UInt32 = 150,
            transactionCount: Int = 3, feePerTransaction: UInt64 = 1_000, includesAnyoneCanSpendOutput: Bool = false
        ) {
            self.nbits = nbits
            self.version = version
            self.halvingInterval = halvingInterval
            self.transactionCount = transactionCount
            self.feePerTransaction = feePerTransaction
            self.includesAnyoneCanSpendOutput = includesAnyoneCanSpendOutput
        }
    }

    /// Why a submitted block was not taken.
    public enum BlockError: Error, Hashable, Sendable {
        /// The header builds on another block than the current tip.
        case notOnTip(expected: Hash256, got: Hash256)
        /// The header hash is above the network target.
        case insufficientWork(hash: Hash256)
        /// The header time is not above the median of the last 11 blocks' (Bitcoin Core: `time-too-old`).
        case timeTooOld(ntime: UInt32, minimum: UInt32)
        /// The header time is more than 2 hours past `now` (Bitcoin Core: `time-too-new`).
        case timeTooNew(ntime: UInt32, maximum: UInt32)
    }

    /// How far past the current time a block's ntime may be (consensus: `MAX_FUTURE_BLOCK_TIME`, 2 hours).
    public static let maxFutureBlockTime: UInt32 = 7_200
    /// Blocks in the median-time-past window (consensus: 11).
    public static let medianTimeSpan = 11

    /// The configuration in use.
    public let configuration: Configuration
    /// Height of the block being worked on.
    public private(set) var height: UInt32
    /// The current tip (previous hash of the block being worked on).
    public private(set) var chainTip: TemplateChainTip
    /// The template for the block being worked on.
    public private(set) var template: BlockTemplate
    /// Txids of the fake transactions in ``template`` (block order, coinbase excluded).
    public private(set) var transactionIDs: [Hash256]
    /// The fake transactions of ``template`` serialized (block order, coinbase excluded); hashing one gives its
    /// txid. What `RequestTransactionData.Success` returns.
    public private(set) var transactions: [[UInt8]] = []
    /// Header times of the last (up to 11) blocks, oldest first: the median-time-past window.
    public private(set) var recentBlockTimes: [UInt32]
    private var nextTemplateID: UInt64 = 1
    private var revision: UInt32 = 0

    /// Starts at `height` on top of `prevHash` (e.g. regtest genesis at height 1), stamping `now`.
    ///
    /// The starting tip's history is not known; it is taken as 11 blocks stamped one second before `now`, so the
    /// first min_ntime (median time past + 1) is `now` and the window behaves like a chain's from the start.
    public init(configuration: Configuration = Configuration(), height: UInt32 = 1, prevHash: Hash256, now: UInt32) {
        self.configuration = configuration
        self.height = height
        recentBlockTimes = [UInt32](repeating: Swift.max(now, 1) - 1, count: Self.medianTimeSpan)
        let target = Target(compact: configuration.nbits) ?? .max
        chainTip = TemplateChainTip(
            templateID: 0, prevHash: prevHash, headerTimestamp: Self.minimumTime(after: recentBlockTimes),
            nbits: configuration.nbits, target: target)
        template = BlockTemplate(
            templateID: 0, futureTemplate: true, version: 0, coinbaseTxVersion: 2, coinbasePrefix: [],
            coinbaseTxInputSequence: 0, coinbaseTxValueRemaining: 0, coinbaseTxOutputsCount: 0, coinbaseTxOutputs: [],
            coinbaseTxLocktime: 0, merklePath: [])
        transactionIDs = []
        makeTemplate(future: true)
        chainTip.templateID = template.templateID
    }

    /// Block subsidy at `height`: 50 BTC halved every ``Configuration/halvingInterval`` blocks.
    public func subsidy(at height: UInt32) -> UInt64 {
        let halvings = height / Swift.max(configuration.halvingInterval, 1)
        return halvings >= 64 ? 0 : 5_000_000_000 >> UInt64(halvings)
    }

    /// A non-future template for the current tip (as a TP sends when fees improve); new id, new transactions.
    public mutating func refresh() -> BlockTemplate {
        revision += 1
        makeTemplate(future: false)
        return template
    }

    /// The consensus minimum header time of the next block: the median of `times` (the last up to 11 block
    /// times, Bitcoin Core's `GetMedianTimePast`) + 1.
    public static func minimumTime(after times: [UInt32]) -> UInt32 {
        guard !times.isEmpty else { return 0 }
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        return median == .max ? .max : median + 1
    }

    /// Takes a found block: checks it extends the tip, meets the target and has a consensus-valid time (above
    /// the median time past, at most 2 hours past `now`), then advances to the next height.
    ///
    /// The next chain tip's `header_timestamp` (the pool's min_ntime) is the new median time past + 1, like
    /// Bitcoin Core's `mintime`: NOT the found block's time + 1, which runs ahead of every clock once a miner with
    /// a fast clock (SRI's mining_device adds 60 s) finds blocks in a row.
    /// Returns the new future template and the chain tip that activates it (send both, in that order).
    public mutating func submit(
        _ header: BlockHeader, now: UInt32
    ) throws(BlockError) -> (template: BlockTemplate, chainTip: TemplateChainTip) {
        guard header.prevHash == chainTip.prevHash else {
            throw .notOnTip(expected: chainTip.prevHash, got: header.prevHash)
        }
        let hash = header.hash
        guard chainTip.target.isMet(by: hash) else { throw .insufficientWork(hash: hash) }
        let minimum = Self.minimumTime(after: recentBlockTimes)
        guard header.ntime >= minimum else { throw .timeTooOld(ntime: header.ntime, minimum: minimum) }
        let maximum = now > .max - Self.maxFutureBlockTime ? .max : now + Self.maxFutureBlockTime
        guard header.ntime <= maximum else { throw .timeTooNew(ntime: header.ntime, maximum: maximum) }
        recentBlockTimes.append(header.ntime)
        if recentBlockTimes.count > Self.medianTimeSpan { recentBlockTimes.removeFirst() }
        height += 1
        revision = 0
        makeTemplate(future: true)
        chainTip = TemplateChainTip(
            templateID: template.templateID, prevHash: hash, headerTimestamp: Self.minimumTime(after: recentBlockTimes),
            nbits: configuration.nbits, target: chainTip.target)
        return (template, chainTip)
    }

    /// A minimal legacy transaction spending output 0 of `outpoint` to an `OP_TRUE` output (not valid on any
    /// real chain; it only has to serialize and hash like one).
    static func fakeTransaction(spending outpoint: Hash256) -> [UInt8] {
        var tx: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x01]  // version 2, one input
        tx += outpoint.bytes + [0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff]  // index 0, empty scriptSig
        tx.append(0x01)  // one output
        TxOutput(value: 0, script: [Script.opTrue]).serialize(into: &tx)
        return tx + [0x00, 0x00, 0x00, 0x00]  // locktime
    }

    private mutating func makeTemplate(future: Bool) {
        transactions = (0..<configuration.transactionCount).map { index in
            var seed = Array("embedded-tx".utf8)
            for value in [height, revision, UInt32(index)] { withUnsafeBytes(of: value.littleEndian) { seed += $0 } }
            return Self.fakeTransaction(spending: SHA256d.hash(seed))
        }
        transactionIDs = transactions.map { SHA256d.hash($0) }
        // Witness commitment (BIP141): wtxids with the coinbase as zero; fake txs have no witness (wtxid = txid).
        let commitment = WitnessCommitment.value(wtxids: transactionIDs, reservedValue: Hash256.zero.bytes)
        var outputs: [UInt8] = []
        var count: UInt32 = 1
        WitnessCommitment.output(commitment).serialize(into: &outputs)
        if configuration.includesAnyoneCanSpendOutput {
            TxOutput(value: 0, script: [Script.opTrue]).serialize(into: &outputs)
            count += 1
        }
        template = BlockTemplate(
            templateID: nextTemplateID, futureTemplate: future, version: configuration.version, coinbaseTxVersion: 2,
            coinbasePrefix: Script.pushNumber(Int64(height)), coinbaseTxInputSequence: 0xffff_ffff,
            coinbaseTxValueRemaining: subsidy(at: height) + configuration.feePerTransaction
                * UInt64(configuration.transactionCount),
            coinbaseTxOutputsCount: count, coinbaseTxOutputs: outputs, coinbaseTxLocktime: 0,
            merklePath: MerkleRoot.coinbasePath(transactionIDs: transactionIDs))
        nextTemplateID += 1
    }
}
