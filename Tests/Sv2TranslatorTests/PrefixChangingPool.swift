import Reactor
import Sv2Codec
import Sv2Mining
import Sv2Service
import Sv2Pool
import Sv2Bitcoin

/// A small plain-Sv2 pool for the translator's `SetExtranoncePrefix` and channel-routing tests: opens extended channels (4-byte
/// prefixes, the extranonce size asked for, a target every device share meets), sends one job per channel, checks
/// every share with `ShareValidator` against the prefix each job was sent under, acknowledges shares one by one, and
/// on command changes a channel's prefix (`SetExtranoncePrefix`) and sends it a new job, groups channels, or holds
/// channel requests unanswered. Loop thread only.
final class PrefixChangingPool {
    struct Channel {
        let connection: Sv2ConnectionID
        var prefix: Extranonce
        let extranonceSize: Int
        var validator = ShareValidator()
        var accepted = 0
    }

    var connections: Sv2ServerConnections?
    var server: PrefixChangingPoolServer?
    var allocator = try! ExtranonceAllocator(localLength: 4, totalLength: 32)
    var channels: [UInt32: Channel] = [:]
    var nextChannel: UInt32 = 1
    var jobID: UInt32 = 1
    var prevHash = Hash256(bytes: [UInt8](repeating: 0x22, count: 32))!
    /// Future jobs sent by ``newFutureJob(for:)`` and not yet activated: id, coinbase and the prefix it was sent
    /// under, per channel.
    var futureJobs: [UInt32: (jobID: UInt32, parts: CoinbaseParts, prefix: Extranonce)] = [:]
    let minNtime: UInt32 = 1_700_000_000
    let nbits: UInt32 = 0x1d00_ffff  // no blocks
    /// Shares the pool refused, by code (a wrong prefix would show here as `difficulty-too-low`).
    var rejections: [String: Int] = [:]
    /// Channels the translator closed.
    var closed: [UInt32] = []
    /// Accepted shares by job id.
    var acceptedJobs: [UInt32: Int] = [:]
    /// When set, channel requests are held (not answered) until ``answerHeldOpens()``.
    var holdOpens = false
    /// Requests held while ``holdOpens`` was set.
    var heldOpens: [(requestID: UInt32, size: Int, connection: Sv2ConnectionID)] = []

    var localAddress: SocketAddress? { server?.localAddress }

    /// Starts listening on `loop` (loop thread).
    func start(_ loop: EventLoop) throws {
        let server = try PrefixChangingPoolServer(
            configuration: Sv2ServerConfiguration(listenAddress: try SocketAddress(ip: "127.0.0.1", port: 0)),
            eventLoop: loop, mining: PrefixChangingPoolHandler(pool: self),
            jobDeclaration: NullSv2JobDeclarationServerHandler(),
            templateDistribution: NullSv2TemplateDistributionServerHandler())
        try server.start()
        connections = server.connections
        self.server = server
    }

    func stop() { server?.stop() }

    static func u256(_ hash: Hash256) -> U256 { U256(bytes: hash.bytes)! }

    func open(_ message: OpenExtendedMiningChannelView, connection: Sv2ConnectionID) throws {
        guard !holdOpens else {
            return heldOpens.append((message.requestID, Int(message.minExtranonceSize), connection))
        }
        try open(requestID: message.requestID, size: Int(message.minExtranonceSize), connection: connection)
    }

    /// Answers the held channel requests (opening each channel).
    func answerHeldOpens() throws {
        let held = heldOpens
        heldOpens.removeAll()
        holdOpens = false
        for open in held { try self.open(requestID: open.requestID, size: open.size, connection: open.connection) }
    }

    private func open(requestID: UInt32, size: Int, connection: Sv2ConnectionID) throws {
        let id = nextChannel
        nextChannel += 1
        channels[id] = Channel(connection: connection, prefix: try allocator.allocate(), extranonceSize: size)
        try connections?.send(OpenExtendedMiningChannelSuccess(
            requestID: requestID, channelID: id, target: U256(limbs: (.max, .max, .max, .max)),
            extranonceSize: UInt16(size), extranoncePrefix: channels[id]!.prefix.bytes, groupChannelID: 0), to: connection)
        try sendJob(to: id, future: true)
    }

    /// Puts `members` in group `group` (`SetGroupChannel`) and sends one job, active at once, to the group id: every
    /// member gets it (all members have the same extranonce length, as the spec requires of a group).
    func groupJob(_ group: UInt32, members: [UInt32]) throws {
        guard let first = members.first, let channel = channels[first], let connections else { return }
        try connections.send(SetGroupChannel(groupChannelID: group, channelIDs: members), to: channel.connection)
        jobID += 1
        let parts = try coinbaseParts(extranonceLength: channel.prefix.count + channel.extranonceSize)
        try connections.send(NewExtendedMiningJob(
            channelID: group, jobID: jobID, minNtime: minNtime, version: 0x2000_0000, versionRollingAllowed: true,
            merklePath: [], coinbaseTxPrefix: parts.prefix, coinbaseTxSuffix: parts.suffix), to: channel.connection)
        for id in members { activate(id, parts: parts, newChainTip: false) }
    }

    private func coinbaseParts(extranonceLength: Int) throws -> CoinbaseParts {
        try Coinbase(
            version: 2, scriptSigPrefix: [0x03, UInt8(truncatingIfNeeded: jobID), 0, 0], tag: Array("prefix-test".utf8),
            extranonceLength: extranonceLength, sequence: 0xffff_ffff,
            poolOutputs: [TxOutput(value: 50_0000_0000, script: [0x51])], templateOutputs: [], templateOutputCount: 0,
            locktime: 0
        ).parts(witness: false)
    }

    private func activate(
        _ id: UInt32, parts: CoinbaseParts, newChainTip: Bool, jobID: UInt32? = nil, prefix: Extranonce? = nil
    ) {
        guard var channel = channels[id] else { return }
        channel.validator.activate(
            ShareJob(
                extendedJobID: jobID ?? self.jobID, version: 0x2000_0000, versionRollingAllowed: true,
                prevHash: prevHash, coinbasePrefix: parts.prefix, extranoncePrefix: prefix ?? channel.prefix,
                extranonceSize: channel.extranonceSize,
                coinbaseSuffix: parts.suffix, merklePath: [], nbits: nbits, minNtime: minNtime, target: .max),
            newChainTip: newChainTip)
        channels[id] = channel
    }

    /// Sends the channel a job built for its current prefix: a future one plus `SetNewPrevHash`, or one active at
    /// once on the same tip (earlier jobs stay valid, with the prefix they were sent under).
    func sendJob(to id: UInt32, future: Bool) throws {
        guard let channel = channels[id], let connections else { return }
        let parts = try coinbaseParts(extranonceLength: channel.prefix.count + channel.extranonceSize)
        try connections.send(NewExtendedMiningJob(
            channelID: id, jobID: jobID, minNtime: future ? nil : minNtime, version: 0x2000_0000,
            versionRollingAllowed: true, merklePath: [], coinbaseTxPrefix: parts.prefix, coinbaseTxSuffix: parts.suffix),
            to: channel.connection)
        if future {
            try connections.send(SetNewPrevHash(
                channelID: id, jobID: jobID, prevHash: Self.u256(prevHash), minNtime: minNtime, nbits: nbits),
                to: channel.connection)
        }
        activate(id, parts: parts, newChainTip: future)
    }

    /// `SetExtranoncePrefix` for channel `id` (jobs sent from now on use `prefix`).
    func changePrefix(of id: UInt32, to prefix: Extranonce) throws {
        guard var channel = channels[id] else { return }
        try connections?.send(SetExtranoncePrefix(channelID: id, extranoncePrefix: prefix.bytes), to: channel.connection)
        channel.prefix = prefix
        channels[id] = channel
    }

    /// A future job for channel `id`, built for its current prefix, without its `SetNewPrevHash`: the running job
    /// stays valid until ``activateFutureJob(for:)``.
    func newFutureJob(for id: UInt32) throws {
        jobID += 1
        guard let channel = channels[id], let connections else { return }
        let parts = try coinbaseParts(extranonceLength: channel.prefix.count + channel.extranonceSize)
        try connections.send(NewExtendedMiningJob(
            channelID: id, jobID: jobID, minNtime: nil, version: 0x2000_0000, versionRollingAllowed: true,
            merklePath: [], coinbaseTxPrefix: parts.prefix, coinbaseTxSuffix: parts.suffix), to: channel.connection)
        futureJobs[id] = (jobID, parts, channel.prefix)
    }

    /// A new chain tip naming channel `id`'s future job (`SetNewPrevHash`): earlier jobs are stale from now on.
    func activateFutureJob(for id: UInt32) throws {
        guard let channel = channels[id], let future = futureJobs.removeValue(forKey: id), let connections else { return }
        prevHash = Hash256(bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: future.jobID), count: 32))!
        try connections.send(SetNewPrevHash(
            channelID: id, jobID: future.jobID, prevHash: Self.u256(prevHash), minNtime: minNtime, nbits: nbits),
            to: channel.connection)
        activate(id, parts: future.parts, newChainTip: true, jobID: future.jobID, prefix: future.prefix)
    }

    /// A new job (active at once) for channel `id`.
    func newJob(for id: UInt32) throws {
        jobID += 1
        try sendJob(to: id, future: false)
    }

    func submit(_ message: SubmitSharesExtendedView, connection: Sv2ConnectionID) throws {
        guard var channel = channels[message.channelID], let extranonce = Extranonce(copying: message.extranonce) else {
            rejections["invalid-channel-id", default: 0] += 1
            return try connections!.send(SubmitSharesError(
                channelID: message.channelID, sequenceNumber: message.sequenceNumber, errorCode: "invalid-channel-id"),
                to: connection)
        }
        let outcome = channel.validator.validate(Share(
            jobID: message.jobID, nonce: message.nonce, ntime: message.ntime, version: message.version,
            extranonce: extranonce))
        if case .rejected(let rejection) = outcome {
            rejections[rejection.code, default: 0] += 1
            channels[message.channelID] = channel
            return try connections!.send(SubmitSharesError(
                channelID: message.channelID, sequenceNumber: message.sequenceNumber, errorCode: rejection.code),
                to: connection)
        }
        channel.accepted += 1
        acceptedJobs[message.jobID, default: 0] += 1
        channels[message.channelID] = channel
        try connections!.send(SubmitSharesSuccess(
            channelID: message.channelID, lastSequenceNumber: message.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1), to: connection)
    }
}

struct PrefixChangingPoolHandler: Sv2MiningServerHandler {
    let pool: PrefixChangingPool

    mutating func handle(_ message: OpenExtendedMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        do { try pool.open(message, connection: context.connectionID) } catch { throw .rejected("\(error)") }
    }

    mutating func handle(_ message: SubmitSharesExtendedView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        do { try pool.submit(message, connection: context.connectionID) } catch { throw .rejected("\(error)") }
    }

    mutating func handle(_ message: CloseChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        pool.closed.append(message.channelID)
        pool.channels[message.channelID] = nil
    }
}

typealias PrefixChangingPoolServer =
    Sv2Server<PrefixChangingPoolHandler, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
