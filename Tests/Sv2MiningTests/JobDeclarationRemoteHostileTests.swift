import Foundation
@testable import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// A pool taking the signed tokens of a remote JD server, fed hostile `SetCustomMiningJob`s frame by frame: forged
/// and foreign signatures, tampered jobs, expired, replayed and malformed tokens are refused typed and counted, only
/// the request is refused (the channel keeps working), and a real token of the remote JD server is accepted.
@Suite("Job Declaration: signed tokens against hostile clients", .serialized)
struct JobDeclarationRemoteHostileTests {
    static let poolScript = JobDeclarationHostileTests.poolScript
    static let thiefScript = JobDeclarationHostileTests.thiefScript
    static let fair = [TxOutput(value: 5_000_000_000, script: poolScript)]
    static let stealing = [TxOutput(value: 1, script: poolScript), TxOutput(value: 4_999_999_999, script: thiefScript)]
    static let prefix: [UInt8] = [0x01, 0x05, 0x08]

    static var now: UInt64 { UInt64(Date().timeIntervalSince1970) }

    static func token(
        _ kind: MiningJobToken.Kind = .allocated, id: UInt64, user: String = "alice", expires: UInt64? = nil,
        commitment: [UInt8]? = nil, key: AuthorityKeyPair
    ) throws -> [UInt8] {
        try MiningJobToken.sign(
            kind: kind, id: id, expires: UInt32(expires ?? now + 600), user: user,
            jobCommitment: commitment ?? MiningJobToken.allocatedCommitment(outputs: [TxOutput(value: 0, script: poolScript)]),
            key: key
        ).encoded
    }

    /// Sets `miner` up for mining with `REQUIRES_WORK_SELECTION` and opens an extended channel for `alice`.
    static func openWorkSelectingChannel(_ miner: BlockingFramePeer) throws -> OpenExtendedMiningChannelSuccess {
        try JobDeclarationHostileTests.setUp(miner, .mining, flags: Sv2SetupFlags.Mining.requiresWorkSelection)
        try miner.send(OpenExtendedMiningChannel(
            requestID: 1, userIdentity: "alice", nominalHashRate: 1_000, maxTarget: .max, minExtranonceSize: 8))
        return try OpenExtendedMiningChannelSuccess(
            decoding: JobDeclarationHostileTests.expect(.openExtendedMiningChannelSuccess, from: miner))
    }

    /// A remote JD server on `runner`'s loop, paying the pool's script and signing tokens with `signingKey`, started.
    static func startJobDeclarationServer(
        signingKey key: AuthorityKeyPair, on runner: LoopRunner
    ) throws -> JobDeclarationServerService {
        try runner.sync { () -> JobDeclarationServerService in
            let jds = try JobDeclarationServerService(
                payoutScript: Self.poolScript, server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                signingKey: key, eventLoop: runner.loop)
            try jds.start()
            return jds
        }
    }

    @Test func hostileCustomJobsAreRefusedTypedAndCounted() throws {
        let runner = try LoopRunner()
        defer { runner.stop() }
        let jdsRunner = try LoopRunner()
        defer { jdsRunner.stop() }
        let key = try AuthorityKeyPair.generate()
        let stranger = try AuthorityKeyPair.generate()
        // The remote JD server (its own loop) hands out real tokens; the pool knows only its public key.
        let jds = try Self.startJobDeclarationServer(signingKey: key, on: jdsRunner)
        defer { _ = try? jdsRunner.sync { jds.stop() } }
        let verifier = MiningJobTokenVerifier(authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Self.poolScript)])
        let service = try runner.sync { () -> PoolService in
            let service = try PoolService(
                configuration: PoolConfiguration(payoutScript: Self.poolScript),
                server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .embedded(.init(refreshInterval: nil)), eventLoop: runner.loop, acceptsWorkSelection: true)
            try service.start()
            service.pool.customJobAuthorizer = { verifier.authorize($0) }
            return service
        }
        defer { _ = try? runner.sync { service.stop() } }
        #expect(try runner.wait { service.pool.chainTip != nil })
        let (poolAddress, tip) = try runner.sync { (service.localAddress!, service.pool.chainTip!) }
        let jdsAddress = try jdsRunner.sync { jds.localAddress! }
        let declarator = try BlockingFramePeer(connectingTo: jdsAddress)
        defer { declarator.close() }
        try JobDeclarationHostileTests.setUp(declarator, .jobDeclaration)
        let miner = try BlockingFramePeer(connectingTo: poolAddress)
        defer { miner.close() }
        let channel = try Self.openWorkSelectingChannel(miner)

        var request: UInt32 = 0
        func customJob(_ token: [UInt8], outputs: [TxOutput] = Self.fair) throws -> String? {
            request += 1
            try miner.send(SetCustomMiningJob(
                channelID: channel.channelID, requestID: request, miningJobToken: token,
                version: 0x2000_0000, prevHash: JobDeclarationWire.u256(tip.prevHash), minNtime: tip.headerTimestamp,
                nbits: tip.nbits, coinbaseTxVersion: 2, coinbasePrefix: Self.prefix,
                coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: MiningJobToken.serialize(outputs),
                coinbaseTxLocktime: 0, merklePath: []))
            for _ in 0..<16 {
                let (header, payload) = try miner.readFrame()
                if header.knownMessageType == .setCustomMiningJobSuccess { return nil }
                if header.knownMessageType == .setCustomMiningJobError {
                    let error = try SetCustomMiningJobError(decoding: payload)
                    #expect(error.requestID == request)
                    return error.errorCode
                }
            }
            return "no answer"
        }

        // A real token of the remote JD server, for this user: accepted once, then a replay.
        let real = try JobDeclarationHostileTests.allocate(declarator, user: "alice")
        #expect(real.count == MiningJobToken.encodedSize)
        #expect(try customJob(real) == nil)
        #expect(try customJob(real) == "invalid-mining-job-token")  // replayed-token
        // Forged: a flipped signature bit; signed by another key; not a signed token at all.
        var forged = try Self.token(id: 10, key: key)
        forged[MiningJobToken.encodedSize - 1] ^= 0x01
        #expect(try customJob(forged) == "invalid-mining-job-token")  // bad-token-signature
        #expect(try customJob(Self.token(id: 11, key: stranger)) == "invalid-mining-job-token")  // bad-token-signature
        var tamperedBody = try Self.token(id: 12, key: key)
        tamperedBody[10] ^= 0xff  // the expiry, under the signature
        #expect(try customJob(tamperedBody) == "invalid-mining-job-token")  // bad-token-signature
        #expect(try customJob([UInt8](repeating: 7, count: 16)) == "invalid-mining-job-token")  // malformed-token
        // Expired, and valid for longer than any JD server would hand out.
        #expect(try customJob(Self.token(id: 13, expires: Self.now - 3_600, key: key)) == "invalid-mining-job-token")
        #expect(try customJob(Self.token(id: 14, expires: Self.now + 30 * 86_400, key: key)) == "invalid-mining-job-token")
        // Another user's token.
        #expect(try customJob(Self.token(id: 15, user: "bob", key: key)) == "invalid-mining-job-token")  // foreign-token
        // Tampered outputs: an allocated token with a coinbase underpaying the pool; a declared token whose job
        // committed to the fair outputs; a token committing to another pool's outputs.
        #expect(try customJob(Self.token(id: 16, key: key), outputs: Self.stealing) == "invalid-coinbase-tx")
        let declared = MiningJobToken.declaredCommitment(
            version: 0x2000_0000, coinbaseTxVersion: 2, scriptSigPrefix: Self.prefix, sequence: 0xffff_ffff,
            outputs: Self.fair, locktime: 0)
        #expect(try customJob(Self.token(.declared, id: 17, commitment: declared, key: key), outputs: Self.stealing)
            == "invalid-coinbase-tx-outputs")
        let otherPool = MiningJobToken.allocatedCommitment(outputs: [TxOutput(value: 0, script: Self.thiefScript)])
        #expect(try customJob(Self.token(id: 18, commitment: otherPool, key: key)) == "invalid-coinbase-tx-outputs")

        // The channel still works: the declared token with its own job, and a fresh real token, are accepted.
        #expect(try customJob(Self.token(.declared, id: 19, commitment: declared, key: key)) == nil)
        #expect(try customJob(JobDeclarationHostileTests.allocate(declarator, user: "alice", request: 2)) == nil)
        runner.inspect {
            #expect(service.pool.statistics.customJobsAccepted == 3)
            #expect(service.pool.statistics.customJobRefusals == [
                "invalid-mining-job-token": 8, "invalid-coinbase-tx": 1, "invalid-coinbase-tx-outputs": 2,
            ])
            #expect(verifier.authorized == 3)
            #expect(verifier.rejections == [
                "replayed-token": 1, "bad-token-signature": 3, "malformed-token": 2, "expired-token": 1,
                "foreign-token": 1, "underpays-pool": 1, "outputs-mismatch": 2,
            ])
            #expect(service.server.connections.count == 1)
        }
    }

    /// A pool restarted between two uses of one token (its verifier on the used-token journal, as
    /// `sv2 pool --jds-authority-key` runs it): the token of the remote JD server carries a custom job before the
    /// restart and is refused after it (`replayed-token`), while a fresh token of the same JD server is accepted.
    @Test func restartedPoolRefusesATokenUsedBeforeTheRestart() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-restart-tokens-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journalPath = directory + "/" + UsedTokenJournal.fileName
        let jdsRunner = try LoopRunner()
        defer { jdsRunner.stop() }
        let key = try AuthorityKeyPair.generate()
        let jds = try Self.startJobDeclarationServer(signingKey: key, on: jdsRunner)
        defer { _ = try? jdsRunner.sync { jds.stop() } }
        let declarator = try BlockingFramePeer(connectingTo: try jdsRunner.sync { jds.localAddress! })
        defer { declarator.close() }
        try JobDeclarationHostileTests.setUp(declarator, .jobDeclaration)
        let token = try JobDeclarationHostileTests.allocate(declarator, user: "alice", request: 1)

        /// One life of the pool: opens the journal, serves a miner, sends it the custom jobs of `tokens` and returns
        /// their answers (`nil`: accepted) with the verifier's counters; then stops.
        func poolLife(_ tokens: [[UInt8]]) throws -> (answers: [String?], authorized: Int, rejections: [String: Int], loaded: Int) {
            let runner = try LoopRunner()
            var pool: PoolService?
            defer {
                if let pool { _ = try? runner.sync { pool.stop() } }
                runner.stop()
                // Released only once its loop has finished (handlers reach it unretained: see `Lifeline`).
                withExtendedLifetime(pool) {}
            }
            let journal = try UsedTokenJournal(path: journalPath, now: Self.now)
            let loaded = journal.lineCount
            let verifier = MiningJobTokenVerifier(
                authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Self.poolScript)], journal: journal)
            let service = try runner.sync { () -> PoolService in
                let service = try PoolService(
                    configuration: PoolConfiguration(payoutScript: Self.poolScript),
                    server: Sv2ServerConfiguration(listenAddress: clientLoopback),
                    templateSource: .embedded(.init(refreshInterval: nil)), eventLoop: runner.loop,
                    acceptsWorkSelection: true)
                service.pool.customJobAuthorizer = { verifier.authorize($0) }
                try service.start()
                return service
            }
            pool = service
            #expect(try runner.wait { service.pool.chainTip != nil })
            let (poolAddress, tip) = try runner.sync { (service.localAddress!, service.pool.chainTip!) }
            let miner = try BlockingFramePeer(connectingTo: poolAddress)
            defer { miner.close() }
            let channel = try Self.openWorkSelectingChannel(miner)
            var answers: [String?] = []
            for (index, token) in tokens.enumerated() {
                try miner.send(SetCustomMiningJob(
                    channelID: channel.channelID, requestID: UInt32(index + 1), miningJobToken: token,
                    version: 0x2000_0000, prevHash: JobDeclarationWire.u256(tip.prevHash), minNtime: tip.headerTimestamp,
                    nbits: tip.nbits, coinbaseTxVersion: 2, coinbasePrefix: Self.prefix,
                    coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: MiningJobToken.serialize(Self.fair),
                    coinbaseTxLocktime: 0, merklePath: []))
                var answer: String?? = .none
                for _ in 0..<16 where answer == nil {
                    let (header, payload) = try miner.readFrame()
                    if header.knownMessageType == .setCustomMiningJobSuccess { answer = .some(nil) }
                    if header.knownMessageType == .setCustomMiningJobError {
                        answer = .some(try SetCustomMiningJobError(decoding: payload).errorCode)
                    }
                }
                answers.append(answer ?? "no answer")
            }
            let counters = try runner.sync { (verifier.authorized, verifier.rejections) }
            return (answers, counters.0, counters.1, loaded)
        }

        // First life: the token carries a custom job; its id is on disk before the job is accepted.
        let first = try poolLife([token])
        #expect(first.answers == [nil] && first.authorized == 1 && first.rejections.isEmpty && first.loaded == 0)
        // Second life: the same token is a replay; a fresh token of the same JD server is taken.
        let fresh = try JobDeclarationHostileTests.allocate(declarator, user: "alice", request: 2)
        let second = try poolLife([token, fresh])
        #expect(second.loaded == 1)
        #expect(second.answers == ["invalid-mining-job-token", nil], "\(second.answers)")
        #expect(second.authorized == 1 && second.rejections == ["replayed-token": 1])
        // Third life: both ids are remembered.
        let third = try poolLife([fresh])
        #expect(third.loaded == 2 && third.answers == ["invalid-mining-job-token"] && third.rejections == ["replayed-token": 1])
    }

    /// The replay memory is bounded: full of live tokens it refuses new ones (never forgets one early); expired
    /// ids are forgotten and their tokens stay refused as expired.
    @Test func replayMemoryIsBoundedWithoutForgettingLiveTokens() throws {
        let key = try AuthorityKeyPair.generate()
        let verifier = MiningJobTokenVerifier(authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Self.poolScript)])
        var clock: UInt64 = 1_800_000_000
        verifier.now = { clock }
        verifier.maximumRememberedTokens = 2
        func request(_ token: [UInt8]) -> CustomMiningJobRequest {
            CustomMiningJobRequest(
                channelID: 1, userIdentity: "alice", token: token, version: 0x2000_0000, prevHash: .zero, minNtime: 0,
                nbits: 0x1d00_ffff, coinbaseTxVersion: 2, coinbasePrefix: Self.prefix, coinbaseTxInputSequence: 0xffff_ffff,
                coinbaseTxOutputs: Self.fair, coinbaseTxLocktime: 0, merklePath: [])
        }
        let first = try Self.token(id: 1, expires: clock + 100, key: key)
        #expect(verifier.authorize(request(first)) == nil)
        #expect(try verifier.authorize(request(Self.token(id: 2, expires: clock + 200, key: key))) == nil)
        #expect(try verifier.authorize(request(Self.token(id: 3, expires: clock + 300, key: key))) == "internal-error")
        #expect(verifier.rejections == ["replay-memory-full": 1])
        // The first expires: its id is forgotten, the third token now fits, and the first stays refused (expired).
        clock += 100 + UInt64(verifier.leeway) + 1
        #expect(try verifier.authorize(request(Self.token(id: 3, expires: clock + 300, key: key))) == nil)
        #expect(verifier.rememberedTokenCount == 2)
        #expect(verifier.authorize(request(first)) == "invalid-mining-job-token")
        #expect(verifier.rejections == ["replay-memory-full": 1, "expired-token": 1])
    }

    /// The token's wire form round-trips, and the signature covers every byte of it.
    @Test func tokenFormat() throws {
        let key = try AuthorityKeyPair.generate()
        let bytes = try Self.token(id: 0x0102_0304_0506_0708, key: key)
        let token = try MiningJobToken(parsing: bytes)
        #expect(token.encoded == bytes && token.id == 0x0102_0304_0506_0708 && token.kind == .allocated)
        #expect(token.isSigned(by: key.publicKey) && token.isFor(user: "alice") && !token.isFor(user: "bob"))
        for index in bytes.indices {
            var tampered = bytes
            tampered[index] ^= 0x40
            // Either it no longer parses or it no longer verifies.
            if let parsed = try? MiningJobToken(parsing: tampered) { #expect(!parsed.isSigned(by: key.publicKey)) }
        }
        #expect(throws: JobDeclarationError.malformedToken) { try MiningJobToken(parsing: Array(bytes.dropLast())) }
        // An empty user identifier is a token for any user.
        let anyone = try MiningJobToken(parsing: Self.token(id: 1, user: "", key: key))
        #expect(anyone.isFor(user: "alice") && anyone.isFor(user: "bob"))
    }
}
