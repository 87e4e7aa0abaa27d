import Dispatch
import Foundation
import Glibc
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing

/// One protocol violation: what the hostile client does (after connecting, and the Noise handshake when on) and the
/// typed error the server must close it with.
struct Violation: CustomStringConvertible, Sendable {
    let description: String
    let noiseOnly: Bool
    let act: @Sendable (HostileClient, _ honestChannel: UInt32, _ limit: Int) throws -> Void
    let expected: @Sendable (_ honestChannel: UInt32, _ limit: Int) -> Sv2ServiceError

    init(_ description: String, noiseOnly: Bool = false,
         _ act: @escaping @Sendable (HostileClient, UInt32, Int) throws -> Void,
         expect expected: @escaping @Sendable (UInt32, Int) -> Sv2ServiceError) {
        self.description = description
        self.noiseOnly = noiseOnly
        self.act = act
        self.expected = expected
    }
}

let violations: [Violation] = [
    Violation("msg_length at the U24 maximum, before setup") { client, _, _ in
        client.send(client.frame(extensionType: 0, messageType: 0, payload: [], announcedLength: 0xFF_FFFF))
    } expect: { _, limit in .frameTooLarge(length: 0xFF_FFFF, limit: min(limit, Sv2ServerConfiguration.preSetupMaxFramePayload)) },
    Violation("msg_length one above the configured limit, after setup") { client, _, limit in
        try client.setUp()
        client.send(client.frame(extensionType: 0x8000, messageType: 0x1a, payload: [], announcedLength: limit + 1))
    } expect: { _, limit in .frameTooLarge(length: limit + 1, limit: limit) },
    Violation("unknown message type") { client, _, _ in
        try client.setUp()
        client.send(client.frame(extensionType: 0, messageType: 0xEE, payload: [1, 2, 3]))
    } expect: { _, _ in .unknownMessage(extensionType: 0, messageType: 0xEE) },
    Violation("unknown extension") { client, _, _ in
        try client.setUp()
        client.send(client.frame(extensionType: 0x4242, messageType: 1, payload: []))
    } expect: { _, _ in .unknownMessage(extensionType: 0x4242, messageType: 1) },
    Violation("share without the channel bit") { client, _, _ in
        try client.setUp()
        let channel = try client.openChannel()
        client.send(client.frame(extensionType: 0, messageType: 0x1a, payload: try client.share(channel: channel).encodedPayload()))
    } expect: { _, _ in .channelBitMismatch(.submitSharesStandard) },
    Violation("OpenStandardMiningChannel with the channel bit") { client, _, _ in
        try client.setUp()
        let open = OpenStandardMiningChannel(requestID: 1, userIdentity: "m", nominalHashRate: 1, maxTarget: .max)
        client.send(client.frame(extensionType: 0x8000, messageType: 0x10, payload: try open.encodedPayload()))
    } expect: { _, _ in .channelBitMismatch(.openStandardMiningChannel) },
    Violation("Template Distribution message on a Mining connection") { client, _, _ in
        try client.setUp()
        client.send(CoinbaseOutputConstraints(coinbaseOutputMaxAdditionalSize: 100, coinbaseOutputMaxAdditionalSigops: 1))
    } expect: { _, _ in .wrongProtocol(.coinbaseOutputConstraints, connection: .mining) },
    Violation("Job Declaration message on a Mining connection") { client, _, _ in
        try client.setUp()
        client.send(AllocateMiningJobToken(userIdentifier: "m", requestID: 1))
    } expect: { _, _ in .wrongProtocol(.allocateMiningJobToken, connection: .mining) },
    Violation("SetupConnection twice") { client, _, _ in
        try client.setUp()
        client.send(HostileClient.setup)
    } expect: { _, _ in .setupRepeated },
    Violation("message before SetupConnection") { client, _, _ in
        client.send(OpenStandardMiningChannel(requestID: 1, userIdentity: "m", nominalHashRate: 1, maxTarget: .max))
    } expect: { _, _ in .setupRequired(.openStandardMiningChannel) },
    Violation("truncated SetupConnection") { client, _, _ in
        let payload = try HostileClient.setup.encodedPayload()
        client.send(client.frame(extensionType: 0, messageType: 0, payload: Array(payload.prefix(7))))
    } expect: { _, _ in
        .malformedMessage(Sv2DecodeError(message: .setupConnection, field: "flags", offset: 5,
                                         reason: .truncated(needed: 4, available: 2)))
    },
    Violation("share for a channel that does not exist") { client, _, _ in
        try client.setUp()
        _ = try client.openChannel()
        client.send(client.share(channel: 999_999))
    } expect: { _, _ in .unknownChannel(999_999) },
    Violation("share for another connection's channel") { client, honestChannel, _ in
        try client.setUp()
        _ = try client.openChannel()
        client.send(client.share(channel: honestChannel))
    } expect: { honestChannel, _ in .unknownChannel(honestChannel) },
    Violation("bad MAC mid-stream", noiseOnly: true) { client, _, _ in
        try client.setUp()
        let channel = try client.openChannel()
        client.send(client.share(channel: channel, sequence: 1))
        let (ack, _) = try client.readFrame()
        guard ack.knownMessageType == .submitSharesSuccess else { throw HostileError.unexpected("\(ack)") }
        var tampered = client.frame(client.share(channel: channel, sequence: 2))
        tampered[NoiseSession.encryptedHeaderSize + 3] ^= 0x40
        client.send(tampered)
    } expect: { _, _ in .noise(.badMAC) },
    Violation("act 1 sent twice", noiseOnly: true) { client, _, _ in
        client.send(client.actOne)
    } expect: { _, _ in .noise(.badMAC) },
]

@Suite("Hostile peers over loopback", .serialized)
struct HostilePeerTests {
    /// Every violation, on every backend with Noise off and on: a typed error, a log line, a counter, a close of that
    /// connection only — the honest miner keeps being served throughout.
    @Test(arguments: transportMatrix)
    func protocolViolations(backend: ReactorBackend, noise: Bool) throws {
        let harness = try HostileHarness(backend: backend, noise: noise) { $0.maxFramePayload = 4096 }
        defer { harness.stop() }
        let limit = 4096
        let honestChannel = harness.honestChannel
        for violation in violations where noise || !violation.noiseOnly {
            let before = try harness.statistics()
            let errorsBefore = try harness.reportedErrors().count
            let client = try HostileClient(server: harness.address, noise: noise)
            try violation.act(client, honestChannel, limit)
            #expect(client.waitForClose(), "\(violation): connection not closed")
            let expected = violation.expected(honestChannel, limit)
            #expect(try harness.runner.wait { harness.errors.value.count == errorsBefore + 1 }, "\(violation)")
            let reported = try harness.reportedErrors().dropFirst(errorsBefore)
            #expect(Array(reported) == [expected], "\(violation)")
            let after = try harness.statistics()
            #expect(after.errors == before.errors + 1, "\(violation)")
            #expect(after.errors(expected.metricLabel) == before.errors(expected.metricLabel) + 1, "\(violation)")
            #expect(after.rejectedFrames + after.handshakeFailures > before.rejectedFrames + before.handshakeFailures
                || expected.metricLabel == "noise", "\(violation)")
            #expect(harness.logs.warnings(expected.metricLabel) == after.errors(expected.metricLabel), "\(violation)")
            #expect(try harness.runner.wait { harness.server.value.connections.count == 1 }, "\(violation): not released")
            #expect(try harness.honestShareIsAcknowledged(), "\(violation): honest miner starved")
        }
        #expect(try harness.runner.sync { harness.pool.closed.allSatisfy { $0.0 != harness.client.value.connectionID } })
    }

    /// A recorded honest Noise session (act 1, then encrypted SetupConnection) replayed on a new connection: the
    /// server answers act 1 with fresh keys, so the replayed frames fail authentication — or, when they arrive
    /// before the handshake worker's act 2 went out, are refused as bytes no initiator can send yet.
    @Test(arguments: ReactorBackend.allCases)
    func replayedHandshake(backend: ReactorBackend) throws {
        let harness = try HostileHarness(backend: backend, noise: true)
        defer { harness.stop() }
        let original = try HostileClient(server: harness.address, noise: true)
        try original.setUp()
        let replay = try RawSocket(connectingTo: harness.address)
        defer { replay.close() }
        replay.send(original.sent)
        #expect(replay.receiveUntilClosed().closed)
        #expect(try harness.runner.wait {
            harness.errors.value == [.noise(.badMAC)] || harness.errors.value == [.noise(.outOfOrder)]
        })
        #expect(try harness.statistics().setupsAccepted == 2)  // the honest miner and the original, not the replay
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// Slowloris: one byte a second never keeps a connection past the handshake timeout, before the Noise handshake
    /// or after it (drip-feeding SetupConnection).
    @Test(arguments: transportMatrix)
    func slowloris(backend: ReactorBackend, noise: Bool) throws {
        let timeout = 1.5
        let harness = try HostileHarness(backend: backend, noise: noise) { $0.handshakeTimeout = .milliseconds(1500) }
        defer { harness.stop() }
        for completeHandshake in noise ? [false, true] : [false] {
            let client = try HostileClient(server: harness.address, noise: completeHandshake)
            let bytes = completeHandshake ? client.frame(HostileClient.setup) : try HostileClient.setup.encodedFrame()
            let (closed, elapsed) = client.dripUntilClosed(bytes, pause: .seconds(1))
            #expect(closed)
            #expect(elapsed >= timeout - 0.1 && elapsed < timeout + 4.0, "closed after \(elapsed) s")
            #expect(try harness.runner.wait { harness.server.value.connections.count == 1 })
        }
        let stats = try harness.statistics()
        #expect(try harness.reportedErrors() == [Sv2ServiceError](repeating: .handshakeTimeout, count: noise ? 2 : 1))
        #expect(stats.errors("handshake_timeout") == (noise ? 2 : 1), "\(stats)")
        #expect(stats.handshakeFailures == (noise ? 2 : 1))
        #expect(harness.logs.warnings("handshake_timeout") == (noise ? 2 : 1))
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// A slow sender after setup: every byte resets the inactivity clock, but a started frame must still complete
    /// within `partialFrameTimeout`.
    @Test(arguments: transportMatrix)
    func slowSenderAfterSetup(backend: ReactorBackend, noise: Bool) throws {
        let harness = try HostileHarness(backend: backend, noise: noise) { $0.partialFrameTimeout = .milliseconds(1000) }
        defer { harness.stop() }
        let client = try HostileClient(server: harness.address, noise: noise)
        try client.setUp()
        let channel = try client.openChannel()
        let bytes = client.frame(client.share(channel: channel))
        let (closed, elapsed) = client.dripUntilClosed(bytes, pause: .milliseconds(300))
        #expect(closed)
        #expect(elapsed >= 0.9 && elapsed < 5.0, "closed after \(elapsed) s")
        #expect(try harness.reportedErrors() == [.frameTimeout])
        #expect(try harness.statistics().errors("frame_timeout") == 1)
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// A client that stops reading: the server's write queue for it is bounded; it is dropped with a typed error,
    /// and the process and the other clients carry on.
    @Test(arguments: transportMatrix)
    func peerThatStopsReading(backend: ReactorBackend, noise: Bool) throws {
        let harness = try HostileHarness(backend: backend, noise: noise)
        defer { harness.stop() }
        let client = try HostileClient(server: harness.address, noise: noise)
        var small: Int32 = 4096
        setsockopt(client.socket.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try client.setUp()
        let channel = try client.openChannel()
        let id = try harness.runner.sync { harness.server.value.connections.owner(ofChannel: channel)! }
        // ~1 MiB per message; the loop's write queue holds 4 MiB, the kernel a few more.
        let big = RequestTransactionDataSuccess(
            templateID: 1, excessData: [], transactionList: [[UInt8]](repeating: [UInt8](repeating: 0xAB, count: 65_000), count: 16))
        let rssBefore = residentBytes()
        var failure: Sv2ServiceError?
        for _ in 0..<200 where failure == nil {
            failure = try harness.runner.sync { () -> Sv2ServiceError? in
                do throws(Sv2ServiceError) { try harness.server.value.connections.send(big, to: id) } catch { return error }
                return nil
            }
        }
        #expect(failure == .writeBufferFull)
        #expect(try harness.runner.wait { harness.errors.value == [.writeBufferFull] })
        #expect(try harness.statistics().errors("write_buffer_full") == 1)
        #expect(harness.logs.warnings("write_buffer_full") == 1)
        #expect(try harness.runner.wait { harness.server.value.connections.count == 1 })
        #expect(try harness.honestShareIsAcknowledged())
        // The dropped peer's buffers are gone (bounded by the 4 MiB queue, not by what we tried to send).
        #expect(!rssChecksEnabled || residentBytes() - rssBefore < 32 << 20, "RSS grew by \((residentBytes() - rssBefore) >> 20) MiB")
        _ = client
    }
}

@Suite("Connection floods", .serialized)
struct FloodTests {
    /// Many connection attempts that never handshake (2k; `SV2_FLOOD_CONNECTIONS=20000` for the full run, in waves of
    /// 2k to stay under the fd limit): each is closed at the handshake timeout, an honest miner is served and a new
    /// one set up meanwhile, and RSS comes back down.
    @Test(arguments: ReactorBackend.allCases)
    func silentConnectionFlood(backend: ReactorBackend) throws {
        let total = ProcessInfo.processInfo.environment["SV2_FLOOD_CONNECTIONS"].flatMap(Int.init) ?? 2000
        let harness = try HostileHarness(backend: backend, noise: true) { $0.handshakeTimeout = .seconds(1) }
        defer { harness.stop() }
        let rssBefore = residentBytes()
        var peak = rssBefore
        var opened = 0
        while opened < total {
            let wave = min(2000, total - opened)
            var sockets: [RawSocket] = []
            sockets.reserveCapacity(wave)
            for _ in 0..<wave { sockets.append(try RawSocket(connectingTo: harness.address)) }
            opened += wave
            // Mid-flood: the honest miner is served and a newcomer completes Noise + setup + channel.
            #expect(try harness.honestShareIsAcknowledged())
            let newcomer = MinerState()
            let client = Box(try harness.runner.sync {
                let client = try makeClient(harness.runner.loop, server: harness.address, noise: true,
                                            miner: TestMiner(state: newcomer, shares: 1))
                client.connect()
                return client
            })
            #expect(try harness.runner.wait { newcomer.acks.count == 1 })
            try harness.runner.sync { client.value.close() }
            peak = max(peak, residentBytes())
            #expect(try harness.runner.wait(timeout: 30) { harness.server.value.connections.count == 1 })
            for socket in sockets { socket.close() }
        }
        let stats = try harness.statistics()
        #expect(stats.errors("handshake_timeout") == total)
        // Every close is logged or counted in a "suppressed N" summary (the log rate limit; summaries come at the end
        // of each one-second window), and the log stays small: ~20 lines a second, not one per connection.
        #expect(try harness.runner.wait(timeout: 10) {
            harness.logs.warnings("handshake_timeout") + harness.logs.suppressed == total
        }, "logged \(harness.logs.warnings("handshake_timeout")), suppressed \(harness.logs.suppressed) of \(total)")
        #expect(stats.logLinesSuppressed == harness.logs.suppressed)
        #expect(harness.logs.totalLines < 200, "\(harness.logs.totalLines) log lines for \(total) closes")
        #expect(stats.handshakesCompleted == 1 + (total + 1999) / 2000)  // the honest miner + one newcomer per wave
        usleep(200_000)
        let rssAfter = residentBytes()
        print("flood \(backend) \(total): RSS before \(rssBefore >> 10) KiB, peak \(peak >> 10) KiB, after \(rssAfter >> 10) KiB")
        #expect(!rssChecksEnabled || rssAfter - rssBefore < 24 << 20, "RSS grew by \((rssAfter - rssBefore) >> 10) KiB after the flood")
    }
}
