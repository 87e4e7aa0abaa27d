import Dispatch
import Foundation
import Reactor
import Synchronization
import Sv2Codec
@testable import Sv2JobDeclaration
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Pool

/// Custom jobs on a pool of several loops (`sv2 pool --threads N --jds-authority-key KEY`): every loop takes them,
/// through one shared `MiningJobTokenVerifier`, so a token spent on one loop is a replay on the others.
@Suite("Custom jobs on a pool of several loops", .serialized)
struct JobDeclarationClusterTests {
    typealias Remote = JobDeclarationRemoteHostileTests

    @Test func aTokenSpentOnOneLoopIsAReplayOnTheOther() throws {
        let loops = [try LoopRunner(), try LoopRunner()]
        defer { loops.forEach { $0.stop() } }
        let key = try AuthorityKeyPair.generate()
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Remote.poolScript)])
        let cluster = try PoolCluster(
            configuration: PoolConfiguration(payoutScript: Remote.poolScript),
            server: Sv2ServerConfiguration(listenAddress: clientLoopback),
            templateSource: .embedded(.init(refreshInterval: nil)), eventLoops: loops.map(\.loop),
            acceptsWorkSelection: true)
        for (index, runner) in loops.enumerated() {
            try runner.sync {
                cluster.services[index].pool.customJobAuthorizer = { verifier.authorize($0) }
                try cluster.start(loop: index)
            }
        }
        defer { for (index, runner) in loops.enumerated() { _ = try? runner.sync { cluster.stop(loop: index) } } }
        for (index, runner) in loops.enumerated() {
            #expect(try runner.wait { cluster.services[index].pool.chainTip != nil })
        }
        let address = try #require(cluster.localAddress)
        let tip = try loops[0].sync { cluster.services[0].pool.chainTip! }

        // Miners until one channel lives on each loop (the kernel spreads connections by a hash: bounded tries).
        var onLoop: [Int: (miner: BlockingFramePeer, channel: UInt32)] = [:]
        var peers: [BlockingFramePeer] = []
        defer { peers.forEach { $0.close() } }
        for _ in 0..<64 where onLoop.count < 2 {
            let miner = try BlockingFramePeer(connectingTo: address)
            peers.append(miner)
            let channel = try Remote.openWorkSelectingChannel(miner)
            // Loop 1 hands out channel ids from 2^31 (the cluster's id partitions).
            let loop = channel.channelID >= 1 << 31 ? 1 : 0
            if onLoop[loop] == nil { onLoop[loop] = (miner, channel.channelID) }
        }
        try #require(onLoop.count == 2, "64 connections all landed on one loop")

        var request: UInt32 = 0
        func customJob(on loop: Int, _ token: [UInt8]) throws -> String? {
            let (miner, channel) = onLoop[loop]!
            request += 1
            try miner.send(SetCustomMiningJob(
                channelID: channel, requestID: request, miningJobToken: token,
                version: 0x2000_0000, prevHash: JobDeclarationWire.u256(tip.prevHash), minNtime: tip.headerTimestamp,
                nbits: tip.nbits, coinbaseTxVersion: 2, coinbasePrefix: Remote.prefix,
                coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: MiningJobToken.serialize(Remote.fair),
                coinbaseTxLocktime: 0, merklePath: []))
            for _ in 0..<16 {
                let (header, payload) = try miner.readFrame()
                if header.knownMessageType == .setCustomMiningJobSuccess { return nil }
                if header.knownMessageType == .setCustomMiningJobError {
                    return try SetCustomMiningJobError(decoding: payload).errorCode
                }
            }
            return "no answer"
        }

        let first = try Remote.token(id: 1, key: key)
        let second = try Remote.token(id: 2, key: key)
        #expect(try customJob(on: 0, first) == nil)
        #expect(try customJob(on: 1, first) == "invalid-mining-job-token")  // replayed-token, across loops
        #expect(try customJob(on: 1, second) == nil)
        #expect(try customJob(on: 0, second) == "invalid-mining-job-token")
        #expect(verifier.authorized == 2)
        #expect(verifier.rejections == ["replayed-token": 2])
        for (index, runner) in loops.enumerated() {
            #expect(try runner.sync { cluster.services[index].pool.statistics.customJobsAccepted } == 1)
        }
    }

    /// Several threads presenting the same tokens at once: each token is authorized exactly once.
    @Test func concurrentRequestsSpendEachTokenOnce() throws {
        let key = try AuthorityKeyPair.generate()
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Remote.poolScript)])
        let tokens = try (1...40).map { try Remote.token(id: UInt64($0), key: key) }
        let requests = tokens.map(Self.request)
        let threads = 4
        let accepted = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for request in requests where verifier.authorize(request) == nil { accepted.add() }
        }
        #expect(accepted.value == tokens.count)
        #expect(verifier.authorized == tokens.count)
        #expect(verifier.rejections == ["replayed-token": tokens.count * (threads - 1)])
    }

    /// Token checks run in parallel: while one request is held inside its lock-free checks (in `now`, called after
    /// its signature check), a request on another thread gets through its own signature check to `now` too. Were
    /// the checks under the verifier's lock, the second would wait for the first, which gives up after a bounded
    /// wait: the test then fails. Both tokens are accepted and remembered once.
    @Test func signatureChecksRunInParallel() throws {
        let key = try AuthorityKeyPair.generate()
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Remote.poolScript)])
        let clock = Remote.now
        let calls = Mutex(0)
        let second = DispatchSemaphore(value: 0)
        let overlapped = Mutex(false)
        verifier.now = {
            let call = calls.withLock { count in
                count += 1
                return count
            }
            if call == 1 {
                // Bounded: a serialized verifier never lets the second caller in.
                let met = second.wait(timeout: .now() + 20) == .success
                overlapped.withLock { $0 = met }
            } else if call == 2 {
                second.signal()
            }
            return clock
        }
        let requests = try (1...2).map { try Self.request(Remote.token(id: UInt64($0), key: key)) }
        let verdicts = Mutex<[String?]>([])
        let done = DispatchSemaphore(value: 0)
        for request in requests {
            Thread {
                let verdict = verifier.authorize(request)
                verdicts.withLock { $0.append(verdict) }
                done.signal()
            }.start()
        }
        for _ in requests { #expect(done.wait(timeout: .now() + 60) == .success) }
        #expect(overlapped.withLock { $0 }, "the second signature check waited for the first request")
        #expect(verdicts.withLock { $0 } == [nil, nil])
        #expect(verifier.authorized == 2 && verifier.rememberedTokenCount == 2)
    }

    /// A flood of tokens with bad signatures (another key, a tampered id, a flipped signature bit) from several
    /// threads, mixed with good ones that every thread presents: each bad one is refused as such and never reaches
    /// the replay memory or the journal; each good one is accepted and recorded once, a replay on the other threads.
    @Test func badSignaturesNeverTouchTheReplayMemory() throws {
        let key = try AuthorityKeyPair.generate()
        let forger = try AuthorityKeyPair.generate()
        let journal = FailingTokenJournal()
        let verifier = MiningJobTokenVerifier(
            authority: key.publicKey, poolOutputs: [TxOutput(value: 0, script: Remote.poolScript)], journal: journal)
        var bad: [[UInt8]] = []
        for id in UInt64(100)..<130 {
            bad.append(try Remote.token(id: id, key: forger))
            var tampered = try Remote.token(id: id + 100, key: key)
            tampered[2] ^= 1  // the id: the signature no longer covers it
            bad.append(tampered)
            var flipped = try Remote.token(id: id + 200, key: key)
            flipped[flipped.count - 1] ^= 0x80
            bad.append(flipped)
        }
        let good = try (1...8).map { try Remote.token(id: UInt64($0), key: key) }
        let badRequests = bad.map(Self.request)
        let goodRequests = good.map(Self.request)
        let threads = 4
        let accepted = LockedCounter()
        let wrongVerdicts = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for (index, request) in badRequests.enumerated() {
                if verifier.authorize(request) != "invalid-mining-job-token" { wrongVerdicts.add() }
                if index % 12 == thread, verifier.authorize(goodRequests[index / 12]) == nil { accepted.add() }
            }
        }
        #expect(wrongVerdicts.value == 0)
        #expect(accepted.value == good.count)
        #expect(verifier.rememberedTokenCount == good.count)
        #expect(Set(journal.recorded) == Set(1...UInt64(good.count)) && journal.recorded.count == good.count)
        #expect(verifier.rejections == [
            "bad-token-signature": bad.count * threads, "replayed-token": good.count * (threads - 1),
        ])
        #expect(verifier.authorized == good.count)
    }

    static func request(_ token: [UInt8]) -> CustomMiningJobRequest {
        CustomMiningJobRequest(
            channelID: 1, userIdentity: "alice", token: token, version: 0x2000_0000,
            prevHash: Hash256(bytes: [UInt8](repeating: 1, count: 32))!, minNtime: 1_700_000_000,
            nbits: 0x1d00_ffff, coinbaseTxVersion: 2, coinbasePrefix: Remote.prefix,
            coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: Remote.fair, coinbaseTxLocktime: 0,
            merklePath: [])
    }
}

/// A counter several threads add to.
private final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
