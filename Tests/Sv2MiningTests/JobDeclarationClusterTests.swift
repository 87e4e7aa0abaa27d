import Dispatch
import Foundation
import Reactor
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
        let requests = tokens.map { token in
            CustomMiningJobRequest(
                channelID: 1, userIdentity: "alice", token: token, version: 0x2000_0000,
                prevHash: Hash256(bytes: [UInt8](repeating: 1, count: 32))!, minNtime: 1_700_000_000,
                nbits: 0x1d00_ffff, coinbaseTxVersion: 2, coinbasePrefix: Remote.prefix,
                coinbaseTxInputSequence: 0xffff_ffff, coinbaseTxOutputs: Remote.fair, coinbaseTxLocktime: 0,
                merklePath: [])
        }
        let threads = 4
        let accepted = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for request in requests where verifier.authorize(request) == nil { accepted.add() }
        }
        #expect(accepted.value == tokens.count)
        #expect(verifier.authorized == tokens.count)
        #expect(verifier.rejections == ["replayed-token": tokens.count * (threads - 1)])
    }
}

/// A counter several threads add to.
private final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
