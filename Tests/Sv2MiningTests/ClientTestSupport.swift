// Test support for the client side (miner, proxy): a loop on its own thread and a small fake pool.
// Names carry a `Client` prefix so they never collide with the pool side's test helpers.
import Dispatch
import Foundation
import Reactor
import Sv2Codec
import Sv2Service
@testable import Sv2Bitcoin
@testable import Sv2Mining

/// The client tests' names for the shared loop runner and box.
typealias ClientTestLoop = LoopRunner
typealias ClientBox = Box

let clientLoopback = try! SocketAddress(ip: "127.0.0.1", port: 0)

/// One shares-per-`n` hashes target.
func clientTarget(oneIn n: UInt64) -> Target {
    Target(UInt256.max.quotientAndRemainder(dividingBy: UInt256(n)).quotient)
}

/// What the fake pool saw and holds. Loop thread only.
final class ClientTestPoolState {
    struct Channel {
        let connection: Sv2ConnectionID
        let id: UInt32
        var prefix: Extranonce
        let extranonceSize: Int?  // nil: standard
        var validator: ShareValidator
    }

    var shareTarget: Target
    var nbits: UInt32
    var versionRollingAllowed = true
    /// Duplicate-filter capacity of each channel's validator (a flood of more shares per tip needs more).
    var maximumDuplicates = 1 << 16
    var connections: Sv2ServerConnections?
    var allocator = try! ExtranonceAllocator(localLength: 4, totalLength: 16)
    var channels: [UInt32: Channel] = [:]
    var nextChannel: UInt32 = 1
    var jobID: UInt32 = 1
    var prevHash = Hash256(bytes: [UInt8](repeating: 0x11, count: 32))!
    let minNtime: UInt32 = 1_700_000_000
    let merklePath = [Hash256(bytes: [UInt8](repeating: 0xaa, count: 32))!, Hash256(bytes: [UInt8](repeating: 0xbb, count: 32))!]
    /// Accepted shares per job id.
    var accepted: [UInt32: Int] = [:]
    var acceptedShares: [(channel: UInt32, share: Share)] = []
    var rejections: [String: Int] = [:]
    var blocks = 0
    var opened: [(user: String, prefix: Extranonce)] = []
    /// Future jobs sent by ``newFutureJob()`` and not yet activated, per channel: the job as the channel's
    /// validator will check it once its `SetNewPrevHash` supplies the tip (built for the prefix it was sent under).
    var futureJobs: [UInt32: (jobID: UInt32, build: (Hash256) -> ShareJob)] = [:]
    /// Acknowledge every `ackBatch` accepted shares with one `SubmitShares.Success` (per connection).
    var ackBatch = 1
    var unacked: [Sv2ConnectionID: (channel: UInt32, last: UInt32, count: UInt32)] = [:]
    var successMessages = 0
    /// Report counts and sums as totals since the channel opened, like SRI's pool_sv2 0.1.3 (not per batch).
    var cumulativeAcks = false
    var acceptedPerChannel: [UInt32: UInt32] = [:]

    init(shareTarget: Target, nbits: UInt32 = 0x1d00_ffff) {
        self.shareTarget = shareTarget
        self.nbits = nbits
    }

    var totalAccepted: Int { accepted.values.reduce(0, +) }

    /// Acknowledges every partial batch now, as a real pool's acknowledgement timer does (loop thread). Without it a
    /// stopped client's last shares wait for a batch that never fills.
    func flushPartialBatches() {
        for (connection, pending) in unacked {
            successMessages += 1
            let total = acceptedPerChannel[pending.channel, default: 0] + pending.count
            acceptedPerChannel[pending.channel] = total
            let count = cumulativeAcks ? total : pending.count
            try? connections?.send(SubmitSharesSuccess(
                channelID: pending.channel, lastSequenceNumber: pending.last, newSubmitsAcceptedCount: count,
                newSharesSum: UInt64(count)), to: connection)
        }
        unacked.removeAll()
    }

    func coinbaseParts(extranonceLength: Int) -> CoinbaseParts {
        let coinbase = try! Coinbase(
            version: 2, scriptSigPrefix: [0x03, UInt8(truncatingIfNeeded: jobID), 0, 0], tag: Array("client-test".utf8),
            extranonceLength: extranonceLength, sequence: 0xffff_ffff,
            poolOutputs: [TxOutput(value: 50_0000_0000, script: [0x51])], templateOutputs: [], templateOutputCount: 0,
            locktime: 0)
        return coinbase.parts(witness: false)
    }

    /// Sends the current job (future) + SetNewPrevHash to one channel and activates it in its validator; with
    /// `sameTip`, the job alone, active at once on the current tip (earlier jobs stay valid).
    func sendJob(to channelID: UInt32, sameTip: Bool = false) throws {
        guard var channel = channels[channelID], let connections else { return }
        let parts = coinbaseParts(extranonceLength: channel.prefix.count + (channel.extranonceSize ?? 0))
        let job: ShareJob
        if let size = channel.extranonceSize {
            try connections.send(NewExtendedMiningJob(
                channelID: channelID, jobID: jobID, minNtime: sameTip ? minNtime : nil, version: 0x2000_0000,
                versionRollingAllowed: versionRollingAllowed, merklePath: merklePath.map(WireConversions.u256),
                coinbaseTxPrefix: parts.prefix, coinbaseTxSuffix: parts.suffix), to: channel.connection)
            job = ShareJob(
                extendedJobID: jobID, version: 0x2000_0000, versionRollingAllowed: versionRollingAllowed,
                prevHash: prevHash, coinbasePrefix: parts.prefix, extranoncePrefix: channel.prefix, extranonceSize: size,
                coinbaseSuffix: parts.suffix, merklePath: merklePath, nbits: nbits, minNtime: minNtime,
                target: shareTarget)
        } else {
            let root = ShareJob(
                extendedJobID: jobID, version: 0x2000_0000, versionRollingAllowed: true, prevHash: prevHash,
                coinbasePrefix: parts.prefix, extranoncePrefix: channel.prefix, extranonceSize: 0,
                coinbaseSuffix: parts.suffix, merklePath: merklePath, nbits: nbits, minNtime: minNtime,
                target: shareTarget
            ).merkleRoot(extranonce: .empty)
            try connections.send(NewMiningJob(
                channelID: channelID, jobID: jobID, minNtime: sameTip ? minNtime : nil, version: 0x2000_0000,
                merkleRoot: WireConversions.u256(root)), to: channel.connection)
            job = ShareJob(
                standardJobID: jobID, version: 0x2000_0000, prevHash: prevHash, merkleRoot: root, nbits: nbits,
                minNtime: minNtime, target: shareTarget)
        }
        if !sameTip {
            try connections.send(SetNewPrevHash(
                channelID: channelID, jobID: jobID, prevHash: WireConversions.u256(prevHash), minNtime: minNtime,
                nbits: nbits), to: channel.connection)
        }
        channel.validator.activate(job, newChainTip: !sameTip)
        channels[channelID] = channel
    }

    /// A future job (no `min_ntime`, no `SetNewPrevHash` yet) for every channel, built for each channel's current
    /// prefix; the running job stays valid until ``activateFutureJob()``.
    func newFutureJob() throws {
        jobID += 1
        guard let connections else { return }
        for id in channels.keys.sorted() {
            let channel = channels[id]!
            let parts = coinbaseParts(extranonceLength: channel.prefix.count + (channel.extranonceSize ?? 0))
            let (jobID, nbits, minNtime, merklePath, target) = (jobID, nbits, minNtime, merklePath, shareTarget)
            let rolling = versionRollingAllowed
            if let size = channel.extranonceSize {
                try connections.send(NewExtendedMiningJob(
                    channelID: id, jobID: jobID, minNtime: nil, version: 0x2000_0000, versionRollingAllowed: rolling,
                    merklePath: merklePath.map(WireConversions.u256), coinbaseTxPrefix: parts.prefix,
                    coinbaseTxSuffix: parts.suffix), to: channel.connection)
                futureJobs[id] = (jobID, { prevHash in
                    ShareJob(
                        extendedJobID: jobID, version: 0x2000_0000, versionRollingAllowed: rolling, prevHash: prevHash,
                        coinbasePrefix: parts.prefix, extranoncePrefix: channel.prefix, extranonceSize: size,
                        coinbaseSuffix: parts.suffix, merklePath: merklePath, nbits: nbits, minNtime: minNtime,
                        target: target)
                })
            } else {
                let root = ShareJob(
                    extendedJobID: jobID, version: 0x2000_0000, versionRollingAllowed: true, prevHash: prevHash,
                    coinbasePrefix: parts.prefix, extranoncePrefix: channel.prefix, extranonceSize: 0,
                    coinbaseSuffix: parts.suffix, merklePath: merklePath, nbits: nbits, minNtime: minNtime, target: target
                ).merkleRoot(extranonce: .empty)
                try connections.send(NewMiningJob(
                    channelID: id, jobID: jobID, minNtime: nil, version: 0x2000_0000,
                    merkleRoot: WireConversions.u256(root)), to: channel.connection)
                futureJobs[id] = (jobID, { prevHash in
                    ShareJob(
                        standardJobID: jobID, version: 0x2000_0000, prevHash: prevHash, merkleRoot: root, nbits: nbits,
                        minNtime: minNtime, target: target)
                })
            }
        }
    }

    /// A new chain tip activating the jobs of ``newFutureJob()`` (`SetNewPrevHash` naming them): every earlier
    /// job is stale from now on.
    func activateFutureJob() throws {
        guard let connections else { return }
        prevHash = Hash256(bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: jobID), count: 32))!
        for id in futureJobs.keys.sorted() {
            guard var channel = channels[id], let future = futureJobs.removeValue(forKey: id) else { continue }
            try connections.send(SetNewPrevHash(
                channelID: id, jobID: future.jobID, prevHash: WireConversions.u256(prevHash), minNtime: minNtime,
                nbits: nbits), to: channel.connection)
            channel.validator.activate(future.build(prevHash), newChainTip: true)
            channels[id] = channel
        }
    }

    /// `SetExtranoncePrefix` for one channel: jobs sent from now on use `prefix` (earlier ones keep theirs).
    func changePrefix(of channelID: UInt32, to prefix: Extranonce) throws {
        guard var channel = channels[channelID], let connections else { return }
        try connections.send(SetExtranoncePrefix(channelID: channelID, extranoncePrefix: prefix.bytes), to: channel.connection)
        channel.prefix = prefix
        channels[channelID] = channel
    }

    /// A new job for every channel on the same chain tip (a template refresh).
    func newJobOnSameTip() throws {
        jobID += 1
        for id in channels.keys.sorted() { try sendJob(to: id, sameTip: true) }
    }

    /// A new chain tip with a new job for every channel.
    func newBlock() throws {
        jobID += 1
        prevHash = Hash256(bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: jobID), count: 32))!
        for id in channels.keys.sorted() { try sendJob(to: id) }
    }

    func open(user: String, extranonceSize: Int?, connection: Sv2ConnectionID) -> Channel {
        let prefix = try! allocator.allocate()
        let channel = Channel(
            connection: connection, id: nextChannel, prefix: prefix, extranonceSize: extranonceSize,
            validator: ShareValidator(duplicateFilter: DuplicateShareFilter(maximumCapacity: maximumDuplicates)))
        channels[channel.id] = channel
        nextChannel += 1
        opened.append((user, prefix))
        return channel
    }

    func validate(channelID: UInt32, share: Share) -> ShareOutcome {
        guard var channel = channels[channelID] else { return .rejected(.invalidChannelID) }
        let outcome = channel.validator.validate(share)
        channels[channelID] = channel
        switch outcome {
        case .accepted, .blockFound:
            accepted[share.jobID, default: 0] += 1
            acceptedShares.append((channelID, share))
            if case .blockFound = outcome { blocks += 1 }
        case .rejected(let rejection):
            rejections[rejection.code, default: 0] += 1
        }
        return outcome
    }
}

/// A fake pool: opens standard and extended channels, sends one job per channel, validates shares with
/// `ShareValidator` and acknowledges each share individually.
struct ClientTestPool: Sv2MiningServerHandler {
    let state: ClientTestPoolState

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let channel = state.open(
            user: String(decoding: message.userIdentity, as: UTF8.self), extranonceSize: nil,
            connection: context.connectionID)
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: message.requestID, channelID: channel.id, target: WireConversions.u256(state.shareTarget),
            extranoncePrefix: channel.prefix.bytes, groupChannelID: 0))
        do { try state.sendJob(to: channel.id) } catch { throw .rejected("\(error)") }
    }

    mutating func handle(_ message: OpenExtendedMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let size = Int(message.minExtranonceSize)
        let channel = state.open(
            user: String(decoding: message.userIdentity, as: UTF8.self), extranonceSize: size,
            connection: context.connectionID)
        try context.send(OpenExtendedMiningChannelSuccess(
            requestID: message.requestID, channelID: channel.id, target: WireConversions.u256(state.shareTarget),
            extranonceSize: UInt16(size), extranoncePrefix: channel.prefix.bytes, groupChannelID: 0))
        do { try state.sendJob(to: channel.id) } catch { throw .rejected("\(error)") }
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let share = Share(jobID: message.jobID, nonce: message.nonce, ntime: message.ntime, version: message.version)
        try answer(state.validate(channelID: message.channelID, share: share), message.channelID, message.sequenceNumber, context)
    }

    mutating func handle(_ message: SubmitSharesExtendedView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard let extranonce = Extranonce(copying: message.extranonce) else { throw .rejected("long extranonce") }
        let share = Share(
            jobID: message.jobID, nonce: message.nonce, ntime: message.ntime, version: message.version,
            extranonce: extranonce)
        try answer(state.validate(channelID: message.channelID, share: share), message.channelID, message.sequenceNumber, context)
    }

    private func answer(
        _ outcome: ShareOutcome, _ channel: UInt32, _ sequence: UInt32, _ context: Sv2ServerContext
    ) throws(Sv2ServiceError) {
        if case .rejected(let rejection) = outcome {
            try context.send(SubmitSharesError(channelID: channel, sequenceNumber: sequence, errorCode: rejection.code))
        } else {
            let previous = state.unacked[context.connectionID]?.count ?? 0
            let pending = (channel: channel, last: sequence, count: previous + 1)
            guard pending.count >= state.ackBatch else {
                state.unacked[context.connectionID] = pending
                return
            }
            state.unacked[context.connectionID] = nil
            state.successMessages += 1
            let total = state.acceptedPerChannel[channel, default: 0] + pending.count
            state.acceptedPerChannel[channel] = total
            let count = state.cumulativeAcks ? total : pending.count
            try context.send(SubmitSharesSuccess(
                channelID: channel, lastSequenceNumber: sequence, newSubmitsAcceptedCount: count,
                newSharesSum: UInt64(count)))
        }
    }
}

typealias ClientTestPoolServer =
    Sv2Server<ClientTestPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>

/// Starts a fake pool on `loop` (loop thread only).
func startClientTestPool(
    _ loop: EventLoop, state: ClientTestPoolState, at address: SocketAddress = clientLoopback
) throws -> ClientTestPoolServer {
    let server = try ClientTestPoolServer(
        configuration: Sv2ServerConfiguration(listenAddress: address), eventLoop: loop,
        mining: ClientTestPool(state: state), jobDeclaration: NullSv2JobDeclarationServerHandler(),
        templateDistribution: NullSv2TemplateDistributionServerHandler())
    try server.start()
    state.connections = server.connections
    return server
}

/// A plain client configuration for `server`.
func clientTestConfiguration(_ server: SocketAddress) -> Sv2ClientConfiguration {
    Sv2ClientConfiguration(serverAddress: server, sv2Protocol: .mining, security: .plain)
}
