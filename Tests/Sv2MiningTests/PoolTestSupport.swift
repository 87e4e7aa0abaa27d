import Dispatch
@_exported import LoopTestSupport
import Foundation
import Reactor
import Sv2Codec
import Sv2Service
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// The pool tests' name for the shared `Box`.
typealias TestBox = Box

/// Decodes `message`'s own encoding as a view and passes it to `body` (views of test-built messages).
func withView<M: Sv2Message, R>(of message: M, _ body: (M.View) throws -> R) throws -> R {
    let payload = try message.encodedPayload()
    return try payload.withUnsafeBytes { raw in try body(try M.View(payload: Sv2Bytes(unsafeBytes: raw))) }
}

/// Collects what the pool sends back (unit tests drive the pool without a server).
final class Recorder {
    var messages: [any Sv2Message] = []
    func all<M: Sv2Message>(_ type: M.Type) -> [M] { messages.compactMap { $0 as? M } }
}

struct RecordingSink: PoolReplySink {
    let recorder: Recorder
    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) { recorder.messages.append(message) }
}

/// A standard P2WPKH-like payout script for tests.
let testPayoutScript: [UInt8] = [0x00, 0x14] + [UInt8](repeating: 0xab, count: 20)

let loopbackAddress = try! SocketAddress(ip: "127.0.0.1", port: 0)

/// What a test miner knows about its channel and jobs.
final class TestMinerState {
    struct Job {
        var version: UInt32
        var merkleRoot: Hash256?
        var coinbasePrefix: [UInt8] = []
        var coinbaseSuffix: [UInt8] = []
        var merklePath: [Hash256] = []
    }

    let extended: Bool
    var nominalHashrate: Float = 0
    var channelID: UInt32?
    var extranoncePrefix: [UInt8] = []
    var extranonceSize = 0
    var target = Target.max
    var jobs: [UInt32: Job] = [:]
    var activeJobID: UInt32?
    var prevHash = Hash256.zero
    var nbits: UInt32 = 0
    var minNtime: UInt32 = 0
    var prevHashCount = 0
    var acks: [SubmitSharesSuccess] = []
    var errors: [SubmitSharesError] = []
    var openErrors: [String] = []
    /// Every channel opened on this connection, with the group id its Success named.
    var opened: [(channel: UInt32, group: UInt32)] = []
    /// `SetGroupChannel` messages as received.
    var groupAnnouncements: [(group: UInt32, channels: [UInt32])] = []
    var closeReason: Sv2CloseReason?
    /// Channel ids that jobs (`NewMiningJob` or `NewExtendedMiningJob`) and `SetNewPrevHash` were addressed to.
    var jobAddresses: [(channel: UInt32, extended: Bool)] = []
    var prevHashAddresses: [UInt32] = []
    var customJobErrors: [String] = []
    var targets: [Target] = []
    var nextSequence: UInt32 = 0
    var nonce: UInt32 = 0
    var extranonceCounter: UInt64 = 0

    /// The channel's `user_identity` (`tester.std` / `tester.ext` by default).
    var userIdentity: String?

    init(extended: Bool, userIdentity: String? = nil) {
        self.extended = extended
        self.userIdentity = userIdentity
    }

    var acknowledged: UInt32 { acks.reduce(0) { $0 + $1.newSubmitsAcceptedCount } }

    /// A share for the active job whose hash meets `target` (default: the channel's), searching nonces from the
    /// last one tried; `nil` if `maxTries` hashes found none.
    func findShare(meeting target: Target? = nil, maxTries: Int = 1 << 24) -> (fields: ShareFields, hash: Hash256)? {
        guard let channelID, let jobID = activeJobID, let job = jobs[jobID] else { return nil }
        let goal = target ?? self.target
        var extranonce: [UInt8] = []
        let root: Hash256
        if extended || job.merkleRoot == nil {
            // Extended jobs: a standard channel of a group mines them with its prefix as the whole extranonce.
            if extended { extranonceCounter += 1 }
            extranonce = (0..<(extended ? extranonceSize : 0)).map {
                UInt8(truncatingIfNeeded: extranonceCounter >> (8 * UInt64($0 % 8)))
            }
            let txid = SHA256d.hash(job.coinbasePrefix + extranoncePrefix + extranonce + job.coinbaseSuffix)
            root = MerkleRoot.compute(coinbaseTxid: txid, path: job.merklePath)
        } else {
            root = job.merkleRoot!
        }
        var header = BlockHeader(
            version: job.version, prevHash: prevHash, merkleRoot: root, ntime: minNtime, nbits: nbits, nonce: nonce)
        for _ in 0..<maxTries {
            header.nonce = nonce
            nonce &+= 1
            let hash = header.hash
            if goal.isMet(by: hash) {
                let fields = ShareFields(
                    channelID: channelID, sequence: nextSequence, jobID: jobID, nonce: header.nonce, ntime: minNtime,
                    version: job.version, extranonce: extranonce)
                nextSequence += 1
                return (fields, hash)
            }
        }
        return nil
    }
}

/// One share's fields, sendable as standard or extended.
struct ShareFields {
    var channelID: UInt32
    var sequence: UInt32
    var jobID: UInt32
    var nonce: UInt32
    var ntime: UInt32
    var version: UInt32
    var extranonce: [UInt8]

    var standard: SubmitSharesStandard {
        SubmitSharesStandard(
            channelID: channelID, sequenceNumber: sequence, jobID: jobID, nonce: nonce, ntime: ntime, version: version)
    }

    var extendedMessage: SubmitSharesExtended {
        SubmitSharesExtended(
            channelID: channelID, sequenceNumber: sequence, jobID: jobID, nonce: nonce, ntime: ntime, version: version,
            extranonce: extranonce)
    }
}

/// A miner handler that opens one channel on setup and records jobs, targets, acks and errors.
struct TestMiner: Sv2MiningClientHandler {
    let state: TestMinerState

    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        if state.extended {
            try context.send(OpenExtendedMiningChannel(
                requestID: 1, userIdentity: state.userIdentity ?? "tester.ext", nominalHashRate: state.nominalHashrate, maxTarget: .max,
                minExtranonceSize: 4))
        } else {
            try context.send(OpenStandardMiningChannel(
                requestID: 1, userIdentity: state.userIdentity ?? "tester.std", nominalHashRate: state.nominalHashrate, maxTarget: .max))
        }
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.channelID = message.channelID
        state.extranoncePrefix = Array(message.extranoncePrefix)
        state.target = WireConversions.target(message.target)
        state.opened.append((message.channelID, message.groupChannelID))
    }

    mutating func handle(_ message: OpenExtendedMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.channelID = message.channelID
        state.extranoncePrefix = Array(message.extranoncePrefix)
        state.extranonceSize = Int(message.extranonceSize)
        state.target = WireConversions.target(message.target)
        state.opened.append((message.channelID, message.groupChannelID))
    }

    mutating func handle(_ message: SetGroupChannelView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.groupAnnouncements.append((message.groupChannelID, Array(message.channelIDs)))
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        state.closeReason = reason
    }

    mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.openErrors.append(String(decoding: message.errorCode, as: UTF8.self))
    }

    mutating func handle(_ message: NewMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.jobs[message.jobID] = .init(version: message.version, merkleRoot: WireConversions.hash(message.merkleRoot))
        state.jobAddresses.append((message.channelID, false))
        if message.minNtime != nil { state.activeJobID = message.jobID }
    }

    mutating func handle(_ message: NewExtendedMiningJobView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.jobs[message.jobID] = .init(
            version: message.version, coinbasePrefix: Array(message.coinbaseTxPrefix),
            coinbaseSuffix: Array(message.coinbaseTxSuffix), merklePath: message.merklePath.map(WireConversions.hash))
        state.jobAddresses.append((message.channelID, true))
        if message.minNtime != nil { state.activeJobID = message.jobID }
    }

    mutating func handle(_ message: SetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.activeJobID = message.jobID
        state.prevHashAddresses.append(message.channelID)
        state.prevHash = WireConversions.hash(message.prevHash)
        state.nbits = message.nbits
        state.minNtime = message.minNtime
        state.prevHashCount += 1
    }

    mutating func handle(_ message: SetTargetView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.target = WireConversions.target(message.maximumTarget)
        state.targets.append(state.target)
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.acks.append(SubmitSharesSuccess(message))
    }

    mutating func handle(_ message: SubmitSharesErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.errors.append(SubmitSharesError(message))
    }

    mutating func handle(_ message: SetCustomMiningJobErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.customJobErrors.append(String(decoding: message.errorCode, as: UTF8.self))
    }
}

typealias TestMinerClient = Sv2Client<TestMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// A pool on the embedded template source, started on `runner`'s loop.
func startPool(
    _ runner: LoopRunner, configuration: PoolConfiguration,
    templates: EmbeddedTemplateProvider.Configuration = .init(refreshInterval: nil)
) throws -> PoolService {
    let service = try runner.sync {
        let service = try PoolService(
            configuration: configuration, server: Sv2ServerConfiguration(listenAddress: loopbackAddress),
            templateSource: .embedded(templates), eventLoop: runner.loop)
        try service.start()
        return service
    }
    #expect(try runner.wait { service.pool.chainTip != nil })
    return service
}

/// A test miner connected to `service`, waiting until its channel has an active job.
func connectMiner(
    _ runner: LoopRunner, to service: PoolService, state: TestMinerState, flags: UInt32 = 0, waitForJob: Bool = true
) throws -> TestMinerClient {
    try connectMiner(
        runner, to: try runner.sync { service.localAddress! }, state: state, flags: flags, waitForJob: waitForJob)
}

/// A test miner (plain Sv2) connected to the pool at `address`, waiting (up to `timeout` seconds) until its channel
/// has an active job.
func connectMiner(
    _ runner: LoopRunner, to address: SocketAddress, state: TestMinerState, flags: UInt32 = 0, waitForJob: Bool = true,
    timeout: Double = 20
) throws -> TestMinerClient {
    let client = try runner.sync {
        var configuration = Sv2ClientConfiguration(serverAddress: address, sv2Protocol: .mining, security: .plain)
        configuration.flags = flags
        let client = try TestMinerClient(
            configuration: configuration,
            eventLoop: runner.loop, mining: TestMiner(state: state),
            jobDeclaration: NullSv2JobDeclarationClientHandler(),
            templateDistribution: NullSv2TemplateDistributionClientHandler())
        client.connect()
        return client
    }
    if waitForJob { #expect(try runner.wait(timeout: timeout) { state.activeJobID != nil }) }
    return client
}

/// Sends a share on the miner's channel type.
func submit(_ share: ShareFields, extended: Bool, via client: TestMinerClient) throws {
    if extended { try client.send(share.extendedMessage) } else { try client.send(share.standard) }
}

import Testing
