// A complete Sv2 application in one file: a pool, a forwarding proxy (a Mining server plus its sibling Mining
// client on the same loop) and a miner, all in one process over loopback with Noise on.
//
//   swift run HelloSv2
//
// Walkthrough: the getting-started article, Sources/Sv2Service/Sv2Service.docc/GettingStarted.md.
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service

// 1. Handlers: one `handle(_:context:)` per message you serve; each gets a zero-copy view and a context to reply.
struct Pool: Sv2MiningServerHandler {
    var nextChannel: UInt32 = 1

    mutating func handle(_ open: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        print("pool: channel \(nextChannel) for \(String(decoding: open.userIdentity, as: UTF8.self))")
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: open.requestID, channelID: nextChannel, target: .max, extranoncePrefix: [0, 0, 0, 1],
            groupChannelID: 0))
        nextChannel += 1
    }

    mutating func handle(_ share: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        print("pool: share #\(share.sequenceNumber) on channel \(share.channelID)")
        try context.send(SubmitSharesSuccess(
            channelID: share.channelID, lastSequenceNumber: share.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1))
    }
}

// 2. Siblings share state through a plain class and call each other directly: no queue, no copy, no thread hop.
final class Bridge {
    var downstream: Sv2ServerConnections?
    var upstream: Sv2Client<Upstream, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>?
    var miners: [UInt32: (Sv2ConnectionID, UInt32)] = [:]  // upstream request id → miner, its request id
}

struct Downstream: Sv2MiningServerHandler {
    let bridge: Bridge
    mutating func handle(_ open: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let requestID = UInt32(bridge.miners.count + 1)
        bridge.miners[requestID] = (context.connectionID, open.requestID)
        var forwarded = OpenStandardMiningChannel(open)
        forwarded.requestID = requestID
        try bridge.upstream?.send(forwarded)
    }
    mutating func handle(_ share: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try bridge.upstream?.send(SubmitSharesStandard(share))
    }
}

struct Upstream: Sv2MiningClientHandler {
    let bridge: Bridge
    mutating func handle(_ success: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard let (miner, requestID) = bridge.miners[success.requestID] else { throw .rejected("unknown request") }
        var reply = OpenStandardMiningChannelSuccess(success)
        reply.requestID = requestID
        try bridge.downstream?.send(reply, to: miner)
    }
    mutating func handle(_ ack: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try bridge.downstream?.sendToChannelOwner(SubmitSharesSuccess(ack))
    }
}

struct Miner: Sv2MiningClientHandler {
    let loop: EventLoop
    var acks = 0
    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(OpenStandardMiningChannel(requestID: 1, userIdentity: "alice", nominalHashRate: 1e12, maxTarget: .max))
    }
    mutating func handle(_ success: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        for sequence in 0..<UInt32(3) {
            try context.send(SubmitSharesStandard(
                channelID: success.channelID, sequenceNumber: sequence, jobID: 1, nonce: sequence, ntime: 0, version: 0))
        }
    }
    mutating func handle(_ ack: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        acks += 1
        print("miner: share #\(ack.lastSequenceNumber) accepted")
        if acks == 3 { loop.stop() }
    }
}

// 3. Wire it up: one loop, Noise with an authority key, services registered on the loop, then run.
let loop = try EventLoop()
let authority = try AuthorityKeyPair.generate()
let any = try SocketAddress(ip: "127.0.0.1", port: 0)
let identity = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600)

// Mining-only services: Job Declaration and Template Distribution get the Null handlers (refused).
let pool = try Sv2Server(configuration: .init(listenAddress: any, noise: identity), eventLoop: loop, mining: Pool())
try pool.start()

let bridge = Bridge()
let proxy = try Sv2Server(configuration: .init(listenAddress: any, noise: identity), eventLoop: loop,
                          mining: Downstream(bridge: bridge))
let upstream = try proxy.makeSiblingClient(
    configuration: .init(serverAddress: pool.localAddress!, sv2Protocol: .mining,
                         security: .noise(authority: authority.publicKey)),
    mining: Upstream(bridge: bridge))
bridge.downstream = proxy.connections
bridge.upstream = upstream
upstream.onStateChange = { state in print("proxy upstream: \(state)") }
upstream.connect()
try proxy.start()

let miner = try Sv2Client(
    configuration: .init(serverAddress: proxy.localAddress!, sv2Protocol: .mining,
                         security: .noise(authority: authority.publicKey)),
    eventLoop: loop, mining: Miner(loop: loop))
// Connect the miner once the proxy's upstream is ready.
upstream.onStateChange = { state in
    print("proxy upstream: \(state)")
    if case .ready = state { miner.connect() }
}
loop.schedule(after: .seconds(10)) { print("timed out"); loop.stop() }
try loop.run()
print("pool saw \(pool.statistics.framesIn) frames, proxy \(proxy.statistics.framesIn), miner acks \(miner.mining.acks)")
