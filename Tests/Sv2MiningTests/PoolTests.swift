import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// The pool driven directly (no sockets): messages in as views, answers collected by a recording sink.
@Suite struct PoolTests {
    static let genesis = Hash256(displayHex: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")!

    static func makePool(_ configure: (inout PoolConfiguration) -> Void = { _ in }) throws -> Pool {
        var configuration = PoolConfiguration(payoutScript: testPayoutScript, poolTag: "unit")
        configure(&configuration)
        return try Pool(configuration: configuration)
    }

    static func openStandard(
        _ pool: Pool, connection: UInt64, requestID: UInt32 = 1, hashrate: Float = 1e9, maxTarget: U256 = .max,
        flags: UInt32 = 0
    ) throws -> Recorder {
        let recorder = Recorder()
        try withView(of: OpenStandardMiningChannel(
            requestID: requestID, userIdentity: "u\(connection)", nominalHashRate: hashrate, maxTarget: maxTarget)) {
            try pool.openStandardChannel(
                $0, connection: Sv2ConnectionID(connection), setupFlags: flags, reply: RecordingSink(recorder: recorder))
        }
        return recorder
    }

    static func openExtended(
        _ pool: Pool, connection: UInt64, requestID: UInt32 = 1, hashrate: Float = 1e9, minExtranonce: UInt16 = 4,
        flags: UInt32 = 0
    ) throws -> Recorder {
        let recorder = Recorder()
        try withView(of: OpenExtendedMiningChannel(
            requestID: requestID, userIdentity: "u\(connection)", nominalHashRate: hashrate, maxTarget: .max,
            minExtranonceSize: minExtranonce)) {
            try pool.openExtendedChannel(
                $0, connection: Sv2ConnectionID(connection), setupFlags: flags, reply: RecordingSink(recorder: recorder))
        }
        return recorder
    }

    @Test func extranoncePrefixesAreUniqueAcross10kChannels() throws {
        let pool = try Self.makePool()
        var prefixes = Set<[UInt8]>()
        var channels = Set<UInt32>()
        func open(_ index: Int) throws {
            let connection = UInt64(index / 10)  // ten channels per connection
            if index.isMultiple(of: 2) {
                let success = try #require(try Self.openStandard(pool, connection: connection)
                    .all(OpenStandardMiningChannelSuccess.self).first)
                #expect(success.extranoncePrefix.count == 20 && success.extranoncePrefix.suffix(16).allSatisfy { $0 == 0 })
                prefixes.insert(Array(success.extranoncePrefix.prefix(4)))
                channels.insert(success.channelID)
            } else {
                let success = try #require(try Self.openExtended(pool, connection: connection)
                    .all(OpenExtendedMiningChannelSuccess.self).first)
                #expect(success.extranoncePrefix.count == 4 && success.extranonceSize == 16)
                prefixes.insert(success.extranoncePrefix)
                channels.insert(success.channelID)
            }
        }
        for index in 0..<10_000 { try open(index) }
        #expect(prefixes.count == 10_000 && channels.count == 10_000)
        #expect(pool.openChannelCount == 10_000)

        // Close half the connections, open 5000 more: prefixes of open channels stay unique.
        for connection in stride(from: 0, to: 1_000, by: 2) { pool.connectionClosed(Sv2ConnectionID(UInt64(connection))) }
        #expect(pool.openChannelCount == 5_000)
        for index in 10_000..<15_000 { try open(index) }
        var live = Set<[UInt8]>()
        for id in 1...UInt32(40_000) {
            if let prefix = pool.extranoncePrefix(ofChannel: id) { #expect(live.insert(Array(prefix.bytes.prefix(4))).inserted) }
        }
        #expect(live.count == 10_000 && pool.openChannelCount == 10_000)
    }

    @Test func openChannelErrors() throws {
        let pool = try Self.makePool { $0.maximumDifficulty = 1e6 }
        func code(_ recorder: Recorder) -> String? { recorder.all(OpenMiningChannelError.self).first?.errorCode }
        #expect(code(try Self.openStandard(pool, connection: 1, hashrate: -1)) == "invalid-nominal-hashrate")
        #expect(code(try Self.openStandard(pool, connection: 1, hashrate: .nan)) == "invalid-nominal-hashrate")
        #expect(code(try Self.openStandard(pool, connection: 1, maxTarget: U256(limbs: (1, 0, 0, 0)))) == "max-target-out-of-range")
        #expect(code(try Self.openExtended(pool, connection: 1, minExtranonce: 17)) == "min-extranonce-size-too-large")
        #expect(code(try Self.openStandard(pool, connection: 1, flags: Sv2SetupFlags.Mining.requiresWorkSelection))
            == "standard-channels-not-supported-for-custom-work")
        #expect(code(try Self.openExtended(pool, connection: 1, flags: Sv2SetupFlags.Mining.requiresStandardJobs))
            == "extended-channels-not-supported-for-standard-jobs")
        #expect(pool.openChannelCount == 0 && pool.statistics.channelsRefused == 6)
    }

    @Test func channelsPerConnectionAreCapped() throws {
        let pool = try Self.makePool { $0.maximumChannelsPerConnection = 3 }
        func code(_ recorder: Recorder) -> String? { recorder.all(OpenMiningChannelError.self).first?.errorCode }
        for request in 1...3 {
            #expect(try Self.openStandard(pool, connection: 1, requestID: UInt32(request))
                .all(OpenStandardMiningChannelSuccess.self).count == 1)
        }
        #expect(code(try Self.openExtended(pool, connection: 1, requestID: 4)) == "max-channels-per-connection-reached")
        #expect(code(try Self.openStandard(pool, connection: 1, requestID: 5)) == "max-channels-per-connection-reached")
        // Other connections are not affected; a closed connection's channels no longer count.
        #expect(try Self.openStandard(pool, connection: 2).all(OpenStandardMiningChannelSuccess.self).count == 1)
        pool.connectionClosed(Sv2ConnectionID(1))
        #expect(try Self.openStandard(pool, connection: 1, requestID: 6).all(OpenStandardMiningChannelSuccess.self).count == 1)
        #expect(pool.openChannelCount == 2 && pool.statistics.channelsRefused == 2)
        var invalid = PoolConfiguration(payoutScript: testPayoutScript)
        invalid.maximumChannelsPerConnection = 0
        #expect(throws: PoolError.self) { try invalid.validate() }
    }

    @Test func initialTargetFollowsSRIFormulaBoundedByMaxTarget() throws {
        let pool = try Self.makePool()
        let success = try #require(try Self.openStandard(pool, connection: 1, hashrate: 1e12)
            .all(OpenStandardMiningChannelSuccess.self).first)
        #expect(WireConversions.target(success.target) == Target(hashrate: Double(Float(1e12)), sharesPerMinute: 10)!)  // the wire carries an F32
        let small = WireConversions.u256(Target(difficulty: 1000)!)
        let bounded = try #require(try Self.openStandard(pool, connection: 2, hashrate: 1, maxTarget: small)
            .all(OpenStandardMiningChannelSuccess.self).first)
        #expect(bounded.target == small)
    }

    @Test func templatesBecomeJobsPerChannelKind() throws {
        let pool = try Self.makePool()
        let standard = try Self.openStandard(pool, connection: 1)
        let extended = try Self.openExtended(pool, connection: 2)
        let standardID = try #require(standard.all(OpenStandardMiningChannelSuccess.self).first).channelID
        let extendedID = try #require(extended.all(OpenExtendedMiningChannelSuccess.self).first).channelID
        #expect(standard.all(NewMiningJob.self).isEmpty)  // no template yet
        // Without an attached server, broadcasts are dropped; a new channel gets its first job directly.
        var source = EmbeddedTemplateSource(prevHash: Self.genesis, now: 1_700_000_000)
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        let late = try Self.openExtended(pool, connection: 3)
        let job = try #require(late.all(NewExtendedMiningJob.self).first)
        let prevHash = try #require(late.all(SetNewPrevHash.self).first)
        #expect(job.minNtime == nil && prevHash.jobID == job.jobID && job.versionRollingAllowed)
        #expect(WireConversions.hash(prevHash.prevHash) == Self.genesis && prevHash.nbits == 0x207f_ffff)
        // prefix/suffix are the BIP141-stripped halves of the pool's coinbase for this template.
        let coinbase = try Coinbase(
            template: source.template, tag: Array("Sv2/unit/".utf8), extranonceLength: 20,
            poolOutputs: [TxOutput(value: source.template.coinbaseTxValueRemaining, script: testPayoutScript)])
        let withWitness = coinbase.parts(witness: true)
        #expect(try withWitness.strippingWitness() == CoinbaseParts(prefix: job.coinbaseTxPrefix, suffix: job.coinbaseTxSuffix))
        #expect(job.merklePath.map(WireConversions.hash) == source.template.merklePath)

        // A standard channel's merkle root commits to its own full extranonce.
        let std = try Self.openStandard(pool, connection: 4)
        let stdSuccess = try #require(std.all(OpenStandardMiningChannelSuccess.self).first)
        let stdJob = try #require(std.all(NewMiningJob.self).first)
        let txid = coinbase.txid(extranonce: Extranonce(bytes: stdSuccess.extranoncePrefix)!)
        #expect(WireConversions.hash(stdJob.merkleRoot)
            == MerkleRoot.compute(coinbaseTxid: txid, path: source.template.merklePath))
        #expect(standardID != extendedID)

        // A non-future template is active at once (min_ntime set); shares for it validate.
        let refreshed = source.refresh()
        try pool.receive(template: refreshed)
        #expect(pool.currentTemplate == refreshed)
    }

    @Test func sharesBatchAcksAndTickFlushes() throws {
        let pool = try Self.makePool {
            $0.ackBatchSize = 3
            $0.minimumDifficulty = 1e-6
        }
        let source = EmbeddedTemplateSource(
            configuration: .init(nbits: 0x1d00_ffff), prevHash: Self.genesis, now: 1_700_000_000)
        try pool.receive(template: source.template)
        try pool.receive(chainTip: source.chainTip)
        let opened = try Self.openStandard(pool, connection: 1, hashrate: 0)
        let success = try #require(opened.all(OpenStandardMiningChannelSuccess.self).first)
        let job = try #require(opened.all(NewMiningJob.self).first)
        let target = WireConversions.target(success.target)
        var header = BlockHeader(
            version: job.version, prevHash: Self.genesis, merkleRoot: WireConversions.hash(job.merkleRoot),
            ntime: source.chainTip.headerTimestamp, nbits: 0x1d00_ffff, nonce: 0)
        let recorder = Recorder()
        for sequence in 0..<UInt32(7) {
            while !target.isMet(by: header.hash) { header.nonce += 1 }
            try withView(of: SubmitSharesStandard(
                channelID: success.channelID, sequenceNumber: sequence, jobID: job.jobID, nonce: header.nonce,
                ntime: header.ntime, version: header.version)) { try pool.submit($0, reply: RecordingSink(recorder: recorder)) }
            header.nonce += 1
        }
        // Two full batches went out at once; the seventh share waits for the tick.
        var acks = recorder.all(SubmitSharesSuccess.self)
        #expect(acks.map(\.newSubmitsAcceptedCount) == [3, 3] && acks.map(\.lastSequenceNumber) == [2, 5])
        #expect(pool.statistics.sharesAccepted == 7 && pool.statistics.acksSent == 2)
        pool.tick(now: pool.clock())
        #expect(pool.statistics.acksSent == 3)  // flushed (dropped: no server attached)
        // Unknown job, wrong ntime, wrong version bits, bad channel.
        func error(_ share: SubmitSharesStandard) throws -> String? {
            let recorder = Recorder()
            try withView(of: share) { try pool.submit($0, reply: RecordingSink(recorder: recorder)) }
            return recorder.all(SubmitSharesError.self).first?.errorCode
        }
        let id = success.channelID
        #expect(try error(.init(channelID: id, sequenceNumber: 9, jobID: 999, nonce: 0, ntime: header.ntime, version: job.version)) == "invalid-job-id")
        #expect(try error(.init(channelID: id, sequenceNumber: 9, jobID: job.jobID, nonce: 0, ntime: 5, version: job.version)) == "invalid-share")
        #expect(try error(.init(channelID: id, sequenceNumber: 9, jobID: job.jobID, nonce: 0, ntime: header.ntime, version: job.version | 1)) == "invalid-non-rollable-version-bit")
        #expect(try error(.init(channelID: 77, sequenceNumber: 9, jobID: job.jobID, nonce: 0, ntime: header.ntime, version: job.version)) == "invalid-channel-id")
        acks = recorder.all(SubmitSharesSuccess.self)
        #expect(acks.count == 2)
    }

    @Test func updateChannelLoweringMaxTargetSendsSetTarget() throws {
        let pool = try Self.makePool()
        let opened = try Self.openExtended(pool, connection: 1, hashrate: 1e6)
        let success = try #require(opened.all(OpenExtendedMiningChannelSuccess.self).first)
        let lower = Target(difficulty: 1e6)!
        let recorder = Recorder()
        try withView(of: UpdateChannel(channelID: success.channelID, nominalHashRate: 1e6, maximumTarget: WireConversions.u256(lower))) {
            try pool.updateChannel($0, reply: RecordingSink(recorder: recorder))
        }
        #expect(pool.target(ofChannel: success.channelID) == lower)
        #expect(pool.statistics.targetUpdates == 1)
        try withView(of: UpdateChannel(channelID: success.channelID, nominalHashRate: -5, maximumTarget: .max)) {
            try pool.updateChannel($0, reply: RecordingSink(recorder: recorder))
        }
        #expect(recorder.all(UpdateChannelError.self).map(\.errorCode) == ["invalid-nominal-hashrate"])
        // Closing frees the channel and its prefix.
        try withView(of: CloseChannel(channelID: success.channelID, reasonCode: "bye")) {
            pool.closeChannel($0, connection: Sv2ConnectionID(1))
        }
        #expect(pool.openChannelCount == 0 && pool.statistics.channelsClosed == 1)
    }

    @Test func submittedCoinbaseStripsToTheTxid() throws {
        let source = EmbeddedTemplateSource(prevHash: Self.genesis, now: 0)
        let coinbase = try Coinbase(
            template: source.template, tag: [], extranonceLength: 8,
            poolOutputs: [TxOutput(value: 1, script: testPayoutScript)])
        let extranonce = Extranonce(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!
        let full = coinbase.transaction(extranonce: extranonce, witness: true)
        #expect(TransactionSerialization.withoutWitness(full) == coinbase.transaction(extranonce: extranonce, witness: false))
        #expect(TransactionSerialization.withoutWitness(source.transactions[0]) == source.transactions[0])
        #expect(TransactionSerialization.withoutWitness(Array(full.dropLast())) == nil)
        #expect(source.transactions.map { SHA256d.hash($0) } == source.transactionIDs)
    }
}
