import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing

/// State shared by the two halves of a forwarding proxy: a Mining server for downstream miners and its sibling
/// Mining client to the upstream pool. They call each other directly on the one loop.
final class ProxyBridge {
    var downstream: Sv2ServerConnections?
    var upstream: Sv2Client<ProxyUpstream, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>?
    /// Upstream request id → (downstream connection, downstream request id).
    var pendingOpens: [UInt32: (Sv2ConnectionID, UInt32)] = [:]
    var nextRequestID: UInt32 = 100
    var forwardedUp = 0
    var forwardedDown = 0
}

/// Downstream side: forwards channel opens and shares to the upstream client.
struct ProxyDownstream: Sv2MiningServerHandler {
    let bridge: ProxyBridge

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard let upstream = bridge.upstream else { throw .notConnected }
        let requestID = bridge.nextRequestID
        bridge.nextRequestID += 1
        bridge.pendingOpens[requestID] = (context.connectionID, message.requestID)
        var open = OpenStandardMiningChannel(message)
        open.requestID = requestID
        try upstream.send(open)
        bridge.forwardedUp += 1
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard let upstream = bridge.upstream else { throw .notConnected }
        try upstream.send(SubmitSharesStandard(message))
        bridge.forwardedUp += 1
    }
}

/// Upstream side: forwards the pool's answers to the downstream miner that asked.
struct ProxyUpstream: Sv2MiningClientHandler {
    let bridge: ProxyBridge

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        guard let (connection, requestID) = bridge.pendingOpens.removeValue(forKey: message.requestID),
              let downstream = bridge.downstream else { throw .rejected("unknown request \(message.requestID)") }
        var success = OpenStandardMiningChannelSuccess(message)
        success.requestID = requestID
        try downstream.send(success, to: connection)  // registers the channel as owned by that miner
        bridge.forwardedDown += 1
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try bridge.downstream?.sendToChannelOwner(SubmitSharesSuccess(message))
        bridge.forwardedDown += 1
    }
}

typealias ProxyServer = Sv2Server<ProxyDownstream, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>

@Suite("Sibling services share one loop", .serialized)
struct SiblingTests {
    @Test(arguments: transportMatrix)
    func proxyRoundTripInBothDirections(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let miner = MinerState()
        let bridge = ProxyBridge()
        let handles = Box(try runner.sync { () -> [AnyObject] in
            let upstreamPool = try makeServer(runner.loop, noise: noise, state: pool)
            let proxy = try ProxyServer(
                configuration: serverConfiguration(noise: noise), eventLoop: runner.loop,
                mining: ProxyDownstream(bridge: bridge), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            let upstream = try proxy.makeSiblingClient(
                configuration: clientConfiguration(server: upstreamPool.localAddress!, noise: noise),
                mining: ProxyUpstream(bridge: bridge), jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            #expect(upstream.eventLoop === proxy.eventLoop)
            bridge.downstream = proxy.connections
            bridge.upstream = upstream
            upstream.connect()
            try proxy.start()
            return [upstreamPool, proxy, upstream]
        })
        // This bare proxy forwards opens at once (no waiting room, unlike ProxyAggregator): its upstream link must be
        // set up before a miner arrives. Handshakes complete on worker threads, in no particular order.
        #expect(try runner.wait { bridge.upstream?.isReady == true })
        handles.value.append(try runner.sync { () -> AnyObject in
            let client = try makeClient(runner.loop, server: (handles.value[1] as! ProxyServer).localAddress!, noise: noise,
                                        miner: TestMiner(state: miner, shares: 4))
            client.connect()
            return client
        })
        #expect(try runner.wait { miner.acks.count == 4 })
        try runner.sync {
            #expect(miner.channel == 1)  // the pool's channel id, relayed through the proxy
            #expect(miner.acks == [0, 1, 2, 3])
            #expect(pool.shares == 4)
            #expect(bridge.forwardedUp == 5)    // 1 open + 4 shares
            #expect(bridge.forwardedDown == 5)  // 1 success + 4 acks
            #expect(bridge.pendingOpens.isEmpty)
        }
        _ = handles
    }
}
