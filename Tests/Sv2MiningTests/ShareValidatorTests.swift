import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining

@Suite struct ShareValidatorTests {
    static let prevHash = Hash256(displayHex: "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81")!
    static let path = [Hash256(bytes: [UInt8](repeating: 0xaa, count: 32))!, Hash256(bytes: [UInt8](repeating: 0xbb, count: 32))!]
    static let extranoncePrefix = Extranonce(bytes: [0xde, 0xad, 0xbe, 0xef])!
    static let version: UInt32 = 0x2000_0000
    static let minNtime: UInt32 = 1_700_000_000
    /// One hash in 256 meets it.
    static let easyTarget = Target(UInt256(1) << 248)

    static func extendedJob(
        id: UInt32 = 1, nbits: UInt32 = 0x1d00_ffff, target: Target = easyTarget, rolling: Bool = true
    ) throws -> (ShareJob, Coinbase) {
        let coinbase = try CoinbaseTests.sriCoinbase()
        let parts = coinbase.parts(witness: false)
        let job = ShareJob(
            extendedJobID: id, version: version, versionRollingAllowed: rolling, prevHash: prevHash,
            coinbasePrefix: parts.prefix, extranoncePrefix: extranoncePrefix, extranonceSize: 28,
            coinbaseSuffix: parts.suffix, merklePath: path, nbits: nbits, minNtime: minNtime, target: target)
        return (job, coinbase)
    }

    static func rolled(_ seed: UInt8) -> Extranonce { Extranonce(bytes: [UInt8](repeating: seed, count: 28))! }

    /// The header hash computed independently of the validator: full coinbase → txid → root → header.
    static func independentHash(_ coinbase: Coinbase, nbits: UInt32, share: Share) -> Hash256 {
        let txid = coinbase.txid(extranonce: extranoncePrefix.appending(share.extranonce)!)
        let root = MerkleRoot.compute(coinbaseTxid: txid, path: path)
        return BlockHeader(
            version: share.version, prevHash: prevHash, merkleRoot: root, ntime: share.ntime, nbits: nbits,
            nonce: share.nonce
        ).hash
    }

    /// First nonce from `start` whose share meets (or misses, with `meeting: false`) `target`.
    static func findShare(
        _ coinbase: Coinbase, nbits: UInt32, target: Target, meeting: Bool, version: UInt32 = version,
        start: UInt32 = 0
    ) -> Share {
        var nonce = start
        while true {
            let share = Share(jobID: 1, nonce: nonce, ntime: minNtime, version: version, extranonce: rolled(7))
            if target.isMet(by: independentHash(coinbase, nbits: nbits, share: share)) == meeting { return share }
            nonce += 1
        }
    }

    @Test func acceptsShareMeetingTargetAndRejectsDuplicate() throws {
        let (job, coinbase) = try Self.extendedJob()
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        let share = Self.findShare(coinbase, nbits: 0x1d00_ffff, target: Self.easyTarget, meeting: true)
        let expected = Self.independentHash(coinbase, nbits: 0x1d00_ffff, share: share)
        #expect(submit(&validator, share) == .accepted(hash: expected))
        #expect(submit(&validator, share) == .rejected(.duplicateShare))
        // Same nonce, different extranonce: a different share.
        var other = share
        other.extranonce = Self.rolled(8)
        #expect(submit(&validator, other) != .rejected(.duplicateShare))
    }

    @Test func rejectsShareAboveTarget() throws {
        let (job, coinbase) = try Self.extendedJob()
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        let share = Self.findShare(coinbase, nbits: 0x1d00_ffff, target: Self.easyTarget, meeting: false)
        #expect(submit(&validator, share) == .rejected(.difficultyTooLow))
    }

    @Test func versionRollingRules() throws {
        let (job, coinbase) = try Self.extendedJob(target: .max)
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        // Bits inside 0x1fffffe0 may change.
        let rolled = Self.version | 0x0fff_e000
        let ok = Self.findShare(coinbase, nbits: 0x1d00_ffff, target: .max, meeting: true, version: rolled)
        #expect(submit(&validator, ok).isAccepted)
        // Bit 0 and bit 29 are outside the mask.
        for bad in [Self.version | 0x1, Self.version | 0x2000_0000 ^ 0x4000_0000] {
            var share = ok
            share.version = bad
            #expect(submit(&validator, share) == .rejected(.invalidNonRollableVersionBit))
        }
        // Without rolling, any change is refused.
        let (fixed, _) = try Self.extendedJob(id: 2, target: .max, rolling: false)
        validator.activate(fixed, newChainTip: false)
        var share = ok
        share.jobID = 2
        #expect(submit(&validator, share) == .rejected(.versionRollingNotAllowed))
        share.version = Self.version
        #expect(submit(&validator, share).isAccepted)
    }

    @Test func structuralRejections() throws {
        let (job, _) = try Self.extendedJob()
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        let base = Share(jobID: 1, nonce: 0, ntime: Self.minNtime, version: Self.version, extranonce: Self.rolled(1))
        var share = base
        share.extranonce = Extranonce(bytes: [1, 2, 3])!
        #expect(submit(&validator, share) == .rejected(.badExtranonceSize))
        share = base
        share.ntime = Self.minNtime - 1
        #expect(submit(&validator, share) == .rejected(.invalidShare))
        share = base
        share.jobID = 99
        #expect(submit(&validator, share) == .rejected(.invalidJobID))
        // A new chain tip makes job 1 stale.
        let (next, _) = try Self.extendedJob(id: 2)
        validator.activate(next, newChainTip: true)
        #expect(submit(&validator, base) == .rejected(.staleShare))
        #expect(validator.activeJobIDs == [2])
    }

    /// ntime is accepted from min_ntime up to the consensus limit, now + 2 h, with the current time passed in;
    /// beyond it the share is refused with its own code.
    @Test func ntimeUpToTwoHoursPastNowIsAccepted() throws {
        let (job, coinbase) = try Self.extendedJob(target: .max)
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        let now = Self.minNtime + 100
        var share = Self.findShare(coinbase, nbits: 0x1d00_ffff, target: .max, meeting: true)
        share.ntime = now + 60  // a device whose clock runs a minute ahead (SRI's mining_device)
        #expect(validator.validate(share, now: now).isAccepted)
        share.ntime = now + ShareJob.maxFutureNtime
        #expect(validator.validate(share, now: now).isAccepted)
        share.ntime = now + ShareJob.maxFutureNtime + 1
        #expect(validator.validate(share, now: now) == .rejected(.ntimeTooFarInFuture))
        #expect(ShareRejection.ntimeTooFarInFuture.code == "ntime-too-far-in-future")
        // The same share is fine an hour later: the bound moves with the clock passed in.
        #expect(validator.validate(share, now: now + 3_600).isAccepted)
        // No overflow near the end of UInt32 time.
        share.ntime = .max
        #expect(validator.validate(share, now: .max - 10).isAccepted)
    }

    @Test func blockDetectionMatchesIndependentHash() throws {
        // Regtest nbits: about half of all hashes are blocks.
        let nbits: UInt32 = 0x207f_ffff
        let (job, coinbase) = try Self.extendedJob(nbits: nbits, target: .max)
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        let network = Target(compact: nbits)!
        var blocks = 0
        for nonce in UInt32(0)..<64 {
            let share = Share(jobID: 1, nonce: nonce, ntime: Self.minNtime + 5, version: Self.version, extranonce: Self.rolled(3))
            let hash = Self.independentHash(coinbase, nbits: nbits, share: share)
            let outcome = validator.validate(share)
            if network.isMet(by: hash) {
                blocks += 1
                guard case .blockFound(let found, let header) = outcome else {
                    Issue.record("nonce \(nonce): expected a block, got \(outcome)")
                    continue
                }
                #expect(found == hash && header.hash == hash && header.nonce == nonce)
            } else {
                #expect(outcome == .accepted(hash: hash))
            }
        }
        #expect(blocks > 10 && blocks < 54)
    }

    @Test func standardJobUsesFixedMerkleRoot() {
        let root = Hash256(bytes: [UInt8](repeating: 0x11, count: 32))!
        let job = ShareJob(
            standardJobID: 5, version: Self.version, prevHash: Self.prevHash, merkleRoot: root, nbits: 0x1d00_ffff,
            minNtime: Self.minNtime, target: Self.easyTarget)
        var validator = ShareValidator()
        validator.activate(job, newChainTip: true)
        var nonce: UInt32 = 0
        while true {
            let header = BlockHeader(
                version: Self.version, prevHash: Self.prevHash, merkleRoot: root, ntime: Self.minNtime,
                nbits: 0x1d00_ffff, nonce: nonce)
            if Self.easyTarget.isMet(by: header.hash) {
                let share = Share(jobID: 5, nonce: nonce, ntime: Self.minNtime, version: Self.version)
                #expect(submit(&validator, share) == .accepted(hash: header.hash))
                #expect(submit(&validator, share) == .rejected(.duplicateShare))
                var withExtranonce = share
                withExtranonce.extranonce = Extranonce(bytes: [1])!
                #expect(submit(&validator, withExtranonce) == .rejected(.badExtranonceSize))
                break
            }
            nonce += 1
        }
    }

    @Test func activeJobsAreBounded() throws {
        var validator = ShareValidator(maximumActiveJobs: 2)
        for id: UInt32 in 1...3 { validator.activate(try Self.extendedJob(id: id).0, newChainTip: id == 1) }
        #expect(validator.activeJobIDs == [2, 3])
        let share = Share(jobID: 1, nonce: 0, ntime: Self.minNtime, version: Self.version, extranonce: Self.rolled(1))
        #expect(submit(&validator, share) == .rejected(.staleShare))
    }

    @Test func errorCodesMatchSRISpelling() {
        #expect(ShareRejection.allCases.map(\.code).filter { $0 != "ntime-too-far-in-future" } == [
            "invalid-channel-id", "invalid-share", "stale-share", "invalid-job-id", "difficulty-too-low",
            "duplicate-share", "bad-extranonce-size", "version-rolling-not-allowed", "invalid-non-rollable-version-bit",
        ])
        // Ours: SRI has no upper bound on ntime, so no code for it.
        #expect(ShareRejection.allCases.count == 10)
    }

    @Test func duplicateFilterGrowsAndNeverForgetsOnItsOwn() {
        var filter = DuplicateShareFilter(initialCapacity: 8, maximumCapacity: 64)
        var rng = SplitMix64(state: 99)
        let hashes = (0..<48).map { _ in Hash256(bytes: rng.bytes(32))! }
        for hash in hashes { #expect(insert(&filter, hash)) }
        for hash in hashes { #expect(!insert(&filter, hash)) }
        #expect(filter.storedCount == 48 && filter.isFull)
        // Past 3/4 of the maximum the owner was told to end the shares' lifetime; until it does, the filter keeps
        // remembering (it used to clear itself here, letting every earlier share be replayed for credit).
        #expect(insert(&filter, Hash256(bytes: rng.bytes(32))!))
        #expect(filter.storedCount == 49)
        for hash in hashes { #expect(!insert(&filter, hash)) }
        filter.removeAll()
        #expect(insert(&filter, hashes[0]))
    }

    /// Share keys place entries by the share's fields; growing the table must find every entry again, and the same
    /// header counts once whatever else differs (a fresh key computation, the job id).
    @Test func duplicateFilterWithShareKeysSurvivesGrowth() {
        var filter = DuplicateShareFilter(initialCapacity: 8, maximumCapacity: 256)
        var rng = SplitMix64(state: 7)
        let shares = (0..<150).map { index in
            Share(jobID: 1, nonce: UInt32(truncatingIfNeeded: rng.next()), ntime: Self.minNtime + UInt32(index % 3),
                  version: Self.version, extranonce: index.isMultiple(of: 2) ? .empty : Self.rolled(UInt8(index)))
        }
        let hashes = shares.map { _ in Hash256(bytes: rng.bytes(32))! }
        for (share, hash) in zip(shares, hashes) { #expect(insert(&filter, hash, share)) }
        #expect(filter.storedCount == 150)
        for (share, hash) in zip(shares, hashes) {
            var other = share
            other.jobID = 9  // not part of the key: one header is one share whatever job it names
            #expect(!insert(&filter, hash, other))
            #expect(filter.contains(hash, key: filter.key(for: share)))
        }
        // Same fields, different header hash (another job's merkle root): a different share.
        #expect(insert(&filter, Hash256(bytes: rng.bytes(32))!, shares[0]))
        // An all-zero fingerprint is stored too (zero marks empty slots internally).
        #expect(insert(&filter, .zero, shares[1]) && !insert(&filter, .zero, shares[1]))
    }

    /// The same header submitted under two jobs of one tip (a fresh job re-sent for the same template) is credited
    /// once: the filter's key leaves the job id out.
    @Test func sameHeaderUnderTwoJobsIsADuplicate() throws {
        let root = Hash256(bytes: [UInt8](repeating: 0x42, count: 32))!
        func job(_ id: UInt32) -> ShareJob {
            ShareJob(standardJobID: id, version: Self.version, prevHash: Self.prevHash, merkleRoot: root,
                     nbits: 0x1d00_ffff, minNtime: Self.minNtime, target: Target(.max))
        }
        var validator = ShareValidator()
        validator.activate(job(1), newChainTip: true)
        validator.activate(job(2), newChainTip: false)
        let share = Share(jobID: 1, nonce: 5, ntime: Self.minNtime, version: Self.version)
        #expect(submit(&validator, share).isAccepted)
        var again = share
        again.jobID = 2
        #expect(submit(&validator, again) == .rejected(.duplicateShare))
    }

    /// When the filter fills, the validator retires every job, raises its ntime floor above everything accepted
    /// and asks for a fresh job; a block on a retired job of the same tip is still reported as a block.
    @Test func fullFilterRetiresJobsAndRaisesTheNtimeFloor() throws {
        var validator = ShareValidator(duplicateFilter: DuplicateShareFilter(initialCapacity: 8, maximumCapacity: 8))
        let (job, _) = try Self.extendedJob(id: 1)
        validator.activate(job, newChainTip: true)
        var accepted: [Share] = []
        var counter: UInt64 = 0
        while accepted.count < 6, counter < 100_000 {
            counter += 1
            let share = Share(jobID: 1, nonce: UInt32(counter), ntime: Self.minNtime + UInt32(accepted.count),
                              version: Self.version, extranonce: Self.rolled(UInt8(truncatingIfNeeded: counter)))
            if submit(&validator, share).isAccepted { accepted.append(share) }
        }
        try #require(accepted.count == 6)
        #expect(validator.needsFreshJob && validator.rollovers == 1)
        #expect(validator.ntimeFloor == Self.minNtime + 6)
        #expect(validator.activeJobIDs.isEmpty)
        for share in accepted { #expect(submit(&validator, share) == .rejected(.staleShare)) }
        let (next, _) = try Self.extendedJob(id: 2)
        validator.activate(next, newChainTip: false)
        #expect(!validator.needsFreshJob)
        var replay = accepted[0]
        replay.jobID = 2
        #expect(submit(&validator, replay) == .rejected(.staleShare))
    }
}

/// Mutating calls cannot appear directly inside `#expect`; these forward through `inout`.
func submit(_ validator: inout ShareValidator, _ share: Share) -> ShareOutcome { validator.validate(share) }
func insert(_ filter: inout DuplicateShareFilter, _ hash: Hash256) -> Bool { filter.insert(hash) }
func insert(_ filter: inout DuplicateShareFilter, _ hash: Hash256, _ share: Share) -> Bool {
    filter.insert(hash, key: filter.key(for: share))
}
