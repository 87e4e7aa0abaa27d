public import Sv2Bitcoin

/// Everything needed to validate shares for one job on one channel, precomputed when the job is activated.
///
/// A standard job carries the final merkle root; an extended job carries the coinbase around the extranonce
/// (BIP141-stripped, as in `NewExtendedMiningJob`) with the channel's extranonce prefix already hashed into a
/// SHA-256 midstate, so a share costs one coinbase tail hash, the merkle path and one header hash.
public struct ShareJob: Sendable {
    /// BIP320 general-purpose version bits SRI lets miners roll (`VERSION_ROLLING_MASK`).
    public static let versionRollingMask: UInt32 = 0x1fff_ffe0

    /// The job id shares refer to.
    public let jobID: UInt32
    /// The job's header version.
    public let version: UInt32
    /// Version bits a share may change (0 when rolling is not allowed).
    public let versionMask: UInt32
    /// Previous block hash (raw order).
    public let prevHash: Hash256
    /// Network compact target.
    public let nbits: UInt32
    /// Earliest allowed header timestamp.
    public let minNtime: UInt32
    /// Channel target: shares must hash at or below it.
    public let target: Target
    /// Network target from `nbits`: a share at or below it is a block.
    public let blockTarget: Target
    /// What an accepted share on this job is credited: the difficulty of ``target``, fixed with the job.
    public let credit: ShareCredit
    let coinbase: ExtendedCoinbase?

    /// The per-share part of an extended job.
    final class ExtendedCoinbase: Sendable {
        let midstate: SHA256Midstate
        let suffix: [UInt8]
        let merklePath: [Hash256]
        let extranonceSize: Int

        init(midstate: SHA256Midstate, suffix: [UInt8], merklePath: [Hash256], extranonceSize: Int) {
            self.midstate = midstate
            self.suffix = suffix
            self.merklePath = merklePath
            self.extranonceSize = extranonceSize
        }
    }
    let merkleRoot: Hash256

    /// A standard-channel job (`NewMiningJob`): fixed merkle root; version rolling is always allowed.
    public init(
        standardJobID jobID: UInt32, version: UInt32, prevHash: Hash256, merkleRoot: Hash256, nbits: UInt32,
        minNtime: UInt32, target: Target
    ) {
        self.jobID = jobID
        self.version = version
        self.versionMask = ShareJob.versionRollingMask
        self.prevHash = prevHash
        self.nbits = nbits
        self.minNtime = minNtime
        self.target = target
        self.blockTarget = Target(compact: nbits) ?? Target(.zero)
        self.credit = ShareCredit(target: target)
        self.merkleRoot = merkleRoot
        self.coinbase = nil
    }

    /// An extended-channel job (`NewExtendedMiningJob` + the channel's extranonce prefix).
    ///
    /// - Parameters:
    ///   - coinbasePrefix: `coinbase_tx_prefix` (BIP141-stripped).
    ///   - extranoncePrefix: the channel's extranonce prefix, placed between prefix and the rolled extranonce.
    ///   - extranonceSize: bytes a share's extranonce must have.
    ///   - coinbaseSuffix: `coinbase_tx_suffix` (BIP141-stripped).
    public init(
        extendedJobID jobID: UInt32, version: UInt32, versionRollingAllowed: Bool, prevHash: Hash256,
        coinbasePrefix: [UInt8], extranoncePrefix: Extranonce, extranonceSize: Int, coinbaseSuffix: [UInt8],
        merklePath: [Hash256], nbits: UInt32, minNtime: UInt32, target: Target
    ) {
        self.jobID = jobID
        self.version = version
        self.versionMask = versionRollingAllowed ? ShareJob.versionRollingMask : 0
        self.prevHash = prevHash
        self.nbits = nbits
        self.minNtime = minNtime
        self.target = target
        self.blockTarget = Target(compact: nbits) ?? Target(.zero)
        self.credit = ShareCredit(target: target)
        self.merkleRoot = .zero
        let midstate = extranoncePrefix.withUnsafeBytes { SHA256Midstate(absorbing: coinbasePrefix, $0) }
        self.coinbase = ExtendedCoinbase(
            midstate: midstate, suffix: coinbaseSuffix, merklePath: merklePath, extranonceSize: extranonceSize)
    }

    /// Whether this is an extended job.
    public var isExtended: Bool { coinbase != nil }

    /// The merkle root a share with `extranonce` commits to (for extended jobs: coinbase txid up the path).
    public func merkleRoot(extranonce: Extranonce) -> Hash256 {
        guard let coinbase else { return merkleRoot }
        let txid = extranonce.withUnsafeBytes { rolled in
            coinbase.suffix.withUnsafeBytes { suffix in coinbase.midstate.finishDouble(rolled, suffix) }
        }
        var root = txid
        coinbase.merklePath.withUnsafeBufferPointer { path in
            for sibling in path { root = SHA256d.merkleStep(root, sibling) }
        }
        return root
    }

    /// The header a share describes.
    public func header(for share: Share) -> BlockHeader {
        BlockHeader(
            version: share.version, prevHash: prevHash, merkleRoot: merkleRoot(extranonce: share.extranonce),
            ntime: share.ntime, nbits: nbits, nonce: share.nonce)
    }

    /// How far past the current time a share's ntime may be: the consensus limit for block times (2 hours).
    public static let maxFutureNtime: UInt32 = 7_200

    /// Checks everything about `share` except duplicates; on success returns the header and its hash.
    ///
    /// `ntime` must lie in the consensus range: from the job's `min_ntime` up to `now` (unix seconds, coarse is
    /// fine) + 2 hours. Anything stricter rejects real devices (SRI's mining_device runs its clock 60 s ahead).
    func check(_ share: Share, now: UInt32) -> Result<(BlockHeader, Hash256), ShareRejection> {
        let expectedExtranonce = coinbase?.extranonceSize ?? 0
        guard share.extranonce.count == expectedExtranonce else { return .failure(.badExtranonceSize) }
        guard share.ntime >= minNtime else { return .failure(.invalidShare) }
        guard share.ntime <= (now > .max - Self.maxFutureNtime ? .max : now + Self.maxFutureNtime) else {
            return .failure(.ntimeTooFarInFuture)
        }
        if (share.version ^ version) & ~versionMask != 0 {
            return .failure(versionMask == 0 ? .versionRollingNotAllowed : .invalidNonRollableVersionBit)
        }
        let header = header(for: share)
        return .success((header, header.hash))
    }
}
