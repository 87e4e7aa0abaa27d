import Sv2Codec
import Sv2Bitcoin
import Sv2Mining

/// A template turned into the pool's coinbase, ready to become jobs for every channel.
struct PoolTemplate {
    let template: BlockTemplate
    let coinbase: Coinbase
    /// BIP141-stripped `coinbase_tx_prefix` / `coinbase_tx_suffix` (what NewExtendedMiningJob carries).
    let stripped: CoinbaseParts
    /// The merkle path in wire form.
    let wirePath: [U256]

    /// Builds the coinbase: `outputs` first (the first gets the template's whole revenue, the others keep their
    /// value), then the template's outputs.
    init(
        template: BlockTemplate, configuration: PoolConfiguration, outputs: [TxOutput], extranonceLength: Int
    ) throws(PoolError) {
        var poolOutputs = outputs
        if poolOutputs.isEmpty { poolOutputs = [TxOutput(value: 0, script: configuration.payoutScript)] }
        poolOutputs[0].value = template.coinbaseTxValueRemaining
        do {
            coinbase = try Coinbase(
                template: template, tag: configuration.coinbaseTag, extranonceLength: extranonceLength,
                poolOutputs: poolOutputs)
        } catch {
            throw .coinbase(templateID: template.templateID, error)
        }
        self.template = template
        stripped = coinbase.parts(witness: false)
        wirePath = template.merklePath.map(WireConversions.u256)
    }

    /// The merkle root a standard channel with the full extranonce `extranonce` mines on.
    func merkleRoot(extranonce: Extranonce) -> Hash256 {
        let txid = extranonce.withUnsafeBytes { rolled in
            SHA256d.hash(stripped.prefix + Array(rolled) + stripped.suffix)
        }
        return MerkleRoot.compute(coinbaseTxid: txid, path: template.merklePath)
    }

    /// The network job for `channel` (extended or standard), with `minNtime` `nil` for a future job.
    func shareJob(
        for channel: PoolChannel, jobID: UInt32, merkleRoot: Hash256?, tip: TemplateChainTip
    ) -> ShareJob {
        switch channel.kind {
        case .standard:
            ShareJob(
                standardJobID: jobID, version: template.version, prevHash: tip.prevHash,
                merkleRoot: merkleRoot ?? self.merkleRoot(extranonce: channel.extranoncePrefix), nbits: tip.nbits,
                minNtime: tip.headerTimestamp, target: channel.target)
        case .extended:
            ShareJob(
                extendedJobID: jobID, version: template.version, versionRollingAllowed: true, prevHash: tip.prevHash,
                coinbasePrefix: stripped.prefix, extranoncePrefix: channel.extranoncePrefix,
                extranonceSize: channel.rollableLength, coinbaseSuffix: stripped.suffix,
                merklePath: template.merklePath, nbits: tip.nbits, minNtime: tip.headerTimestamp, target: channel.target)
        }
    }
}
