import Foundation
import Reactor
import Sv1
import Sv2Service
import Sv2Translator
import Testing

/// The translator served the exact frames SRI's pool_sv2 0.1.3 sent (its older OpenExtendedMiningChannel.Success
/// without group_channel_id, 8-byte prefix, 24 rollable bytes): it opens its channel, and an Sv1 device gets the
/// same subscribe shape SRI's own translator gave SRI's miner in sv1-session.log (28-byte extranonce1, 4-byte
/// extranonce2) and a job on the pool's chain tip.
@Suite("Translator against frames captured from SRI's pool", .serialized)
struct TranslatorRealPoolFramesTests {
    @Test func opensItsChannelAndServesADevice() throws {
        let server = try ScriptedFrameServer(frames: try ScriptedFrameServer.capture("sri-pool-extended"))
        defer { server.stop() }
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let translator = try runner.sync {
            try Sv2Translator.start(
                configuration: TranslatorConfiguration(
                    listenAddress: loopback,
                    upstream: Sv2ClientConfiguration(serverAddress: server.address, sv2Protocol: .mining, security: .plain),
                    userIdentity: "interop-translator"),
                eventLoop: runner.loop)
        }
        bed.keep(translator)
        #expect(try runner.wait { translator.upstreamChannel?.work != nil })
        let peer = RawSv1Peer()
        bed.keep(peer)
        try runner.sync { peer.connect(runner.loop, to: translator.localAddress!) }
        #expect(try runner.wait { peer.connection != nil })
        try runner.sync {
            peer.send(#"{"id":1,"method":"mining.subscribe","params":["interop"]}"# + "\n")
            peer.send(#"{"id":2,"method":"mining.authorize","params":["user","password"]}"# + "\n")
        }
        #expect(try runner.wait { peer.lines.contains { $0.contains(notifyMarker) } })
        let lines = try runner.sync { peer.lines }
        let subscribed = try #require(lines.first { $0.hasPrefix("{\"id\":1,") })
        var text = subscribed
        let message = try text.withUTF8 { try Sv1ServerMessage(line: UnsafeRawBufferPointer($0)) }
        guard case .response(_, .subscribed(let extranonce1, let size)) = message else {
            throw TestFailure("not a subscribe answer: \(subscribed)")
        }
        let prefix = try runner.sync { translator.upstreamChannel!.extranoncePrefix.bytes }
        #expect(prefix.count == 8)
        #expect(extranonce1.count == 28 && size == 4)
        #expect(Array(extranonce1.prefix(8)) == prefix)
        let job = try firstNotify(lines)
        #expect(job.nbits == 0x207f_ffff && job.cleanJobs)
        try runner.sync { translator.stop() }
        #expect(server.error == nil, "\(server.error ?? "")")
        #expect(server.clientFrames.map(\.messageType) == [0x00, 0x13])
    }
}
