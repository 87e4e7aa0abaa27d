import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Proxy
@testable import Sv2Miner

/// Our clients served the exact frames SRI's pool_sv2 0.1.3 sent (plain transport, scripted server): the miner
/// and the proxy's upstream client open their channel and get work. The extended capture has the pre-2025-11
/// OpenExtendedMiningChannel.Success without group_channel_id, which used to close the connection.
@Suite("Clients against frames captured from SRI's pool", .serialized)
struct RealPeerServerTests {
    @Test(arguments: [MinerConfiguration.ChannelType.extended, .standard])
    func minerOpensItsChannel(channelType: MinerConfiguration.ChannelType) throws {
        let frames = try ScriptedFrameServer.capture(
            channelType == .extended ? "sri-pool-extended" : "sri-pool-standard")
        let server = try ScriptedFrameServer(frames: frames)
        defer { server.stop() }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let client = try runner.sync { () -> MinerClient in
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "interop", channelType: channelType, minExtranonceSize: 4,
                    cpu: CPUMinerConfiguration(workerCount: 1)),
                server: Sv2ClientConfiguration(serverAddress: server.address, sv2Protocol: .mining, security: .plain),
                eventLoop: runner.loop)
            client.connect()
            return client
        }
        // Channel open and work published: the job was activated by the pool's SetNewPrevHash.
        #expect(try runner.wait { client.mining.session.statistics.workUpdates >= 1 })
        try runner.sync {
            let session = client.mining.session
            let tracker = try #require(session.tracker)
            #expect(tracker.channelID == 1)
            #expect(session.statistics.channelError == nil)
            #expect(session.statistics.jobsReceived == 1 && session.statistics.prevHashesReceived == 1)
            #expect(tracker.work?.nbits == 0x207f_ffff)
            if channelType == .extended {
                #expect(tracker.extranonceSize == 24 && tracker.extranoncePrefix.count == 8)
            } else {
                #expect(tracker.extranoncePrefix.count == 32)
            }
            #expect(client.isReady)
            session.stop()
            client.close()
        }
        #expect(server.error == nil, "\(server.error ?? "")")
        let sent = server.clientFrames
        #expect(sent.map(\.messageType) == [0x00, channelType == .extended ? 0x13 : 0x10])
    }

    @Test func proxyUpstreamOpensItsChannel() throws {
        let server = try ScriptedFrameServer(frames: try ScriptedFrameServer.capture("sri-pool-extended"))
        defer { server.stop() }
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let proxy = try runner.sync {
            try ProxyAggregator.start(
                configuration: ProxyConfiguration(
                    downstream: Sv2ServerConfiguration(listenAddress: try SocketAddress(ip: "127.0.0.1", port: 0)),
                    upstream: Sv2ClientConfiguration(serverAddress: server.address, sv2Protocol: .mining, security: .plain),
                    userIdentity: "interop-proxy"),
                eventLoop: runner.loop)
        }
        #expect(try runner.wait { proxy.upstreamChannel?.work != nil })
        try runner.sync {
            #expect(proxy.statistics.upstreamChannelID == 1)
            #expect(proxy.statistics.upstreamExtranonceSize == 24)
            #expect(proxy.statistics.upstreamExtranoncePrefix?.count == 8)
            #expect(proxy.statistics.upstreamChannelError == nil)
            proxy.stop()
        }
        #expect(server.error == nil, "\(server.error ?? "")")
        #expect(server.clientFrames.map(\.messageType) == [0x00, 0x13])
    }
}
