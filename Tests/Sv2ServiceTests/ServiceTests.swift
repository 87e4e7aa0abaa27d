import Foundation
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing

@Suite("Sv2Server and Sv2Client over loopback", .serialized)
struct ServiceTests {
    @Test(arguments: transportMatrix)
    func setupChannelAndShares(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let miner = MinerState()
        let handles = try runner.sync { () -> (TestServer, TestClient) in
            let server = try makeServer(runner.loop, noise: noise, state: pool)
            let client = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                        miner: TestMiner(state: miner, shares: 5))
            client.connect()
            return (server, client)
        }
        let box = Box(handles)
        #expect(try runner.wait { miner.acks.count == 5 })
        try runner.sync {
            #expect(miner.ready)
            #expect(miner.channel == 1)
            #expect(miner.acks == [0, 1, 2, 3, 4])
            #expect(pool.shares == 5)
            let stats = box.value.0.statistics
            #expect(stats.setupsAccepted == 1)
            #expect(stats.handshakesCompleted == (noise ? 1 : 0))
            #expect(stats.framesIn == 7)  // SetupConnection, OpenStandardMiningChannel, 5 shares
            #expect(stats.framesOut == 7)
            #expect(box.value.0.connections.owner(ofChannel: 1) == box.value.1.connectionID.map { _ in pool.setUp[0] })
            if case .ready(let version, _) = box.value.1.state { #expect(version == 2) } else { Issue.record("not ready") }
        }
    }

    @Test(arguments: transportMatrix)
    func setupRefusals(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let cases: [(String, (inout Sv2ClientConfiguration) -> Void, Sv2Protocol, UInt32)] = [
            (Sv2SetupErrorCode.unsupportedProtocol, { _ in }, .templateDistribution, 0),
            (Sv2SetupErrorCode.protocolVersionMismatch, { $0.minVersion = 3; $0.maxVersion = 4 }, .mining, 0),
            (Sv2SetupErrorCode.unsupportedFeatureFlags, { $0.flags = 0b1000 | Sv2SetupFlags.Mining.requiresVersionRolling }, .mining, 0b1000),
        ]
        let server = Box(try runner.sync { try makeServer(runner.loop, noise: noise, state: pool) })
        for (code, configure, sv2Protocol, flags) in cases {
            let state = Box<Sv2ClientState>(.idle)
            let client = Box(try runner.sync { () -> AnyObject in
                let address = server.value.localAddress!
                if sv2Protocol == .templateDistribution {
                    let client = try Sv2Client(
                        configuration: clientConfiguration(server: address, noise: noise, sv2Protocol: .templateDistribution, configure),
                        eventLoop: runner.loop, mining: NullSv2MiningClientHandler(),
                        jobDeclaration: NullSv2JobDeclarationClientHandler(), templateDistribution: RecordingTemplateClient())
                    client.onStateChange = { state.value = $0 }
                    client.connect()
                    return client
                }
                let client = try makeClient(runner.loop, server: address, noise: noise, miner: TestMiner(state: MinerState()), configure)
                client.onStateChange = { state.value = $0 }
                client.connect()
                return client
            })
            #expect(try runner.wait {
                if case .closed = state.value { return true }
                return false
            })
            try runner.sync {
                #expect(state.value == .closed(.error(.setupRefused(code: code, flags: flags))), "\(code)")
            }
            _ = client
        }
        try runner.sync {
            #expect(server.value.statistics.setupsRefused == 3)
            #expect(server.value.statistics.setupsAccepted == 0)
            #expect(pool.setUp.isEmpty)
        }
    }

    @Test(arguments: transportMatrix)
    func inactiveClientsAreClosed(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let miner = MinerState()
        let handles = Box(try runner.sync { () -> (TestServer, TestClient) in
            let server = try makeServer(runner.loop, noise: noise, state: pool) { $0.inactivityTimeout = .milliseconds(300) }
            let client = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                        miner: TestMiner(state: miner, shares: 0))
            client.connect()
            return (server, client)
        })
        #expect(try runner.wait { miner.closedReason != nil && pool.closed.count == 1 })
        try runner.sync {
            #expect(pool.closed.count == 1)
            #expect(pool.closed.first?.1 == .error(.inactivityTimeout))
            #expect(handles.value.0.statistics.inactivityTimeouts == 1)
            #expect(handles.value.0.connections.count == 0)
            #expect(handles.value.0.connections.owner(ofChannel: 1) == nil)
        }
    }

    @Test(arguments: transportMatrix)
    func fiveHundredClientsAtOnce(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let miners = (0..<500).map { _ in MinerState() }
        // 500 handshakes at once on one loop (clients and server): on a busy machine they can take longer than the
        // default 10 s handshake deadline, which this test is not about, so both sides get the test's own bound.
        let handles = Box(try runner.sync { () -> (TestServer, [TestClient]) in
            let server = try makeServer(runner.loop, noise: noise, state: pool) { $0.handshakeTimeout = .seconds(60) }
            let clients = try miners.map { state in
                let client = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                            miner: TestMiner(state: state, shares: 3)) { $0.handshakeTimeout = .seconds(60) }
                client.connect()
                return client
            }
            return (server, clients)
        })
        #expect(try runner.wait(timeout: 60) { miners.allSatisfy { $0.acks.count == 3 } })
        try runner.sync {
            #expect(pool.shares == 1500)
            #expect(Set(miners.compactMap(\.channel)).count == 500)
            #expect(handles.value.0.statistics.setupsAccepted == 500)
            #expect(handles.value.0.statistics.errors == 0)
        }
    }

    @Test(arguments: transportMatrix)
    func handlerErrorClosesOnlyThatConnection(backend: ReactorBackend, noise: Bool) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let evil = MinerState()
        let good = MinerState()
        let handles = Box(try runner.sync { () -> (TestServer, TestClient, TestClient) in
            let server = try makeServer(runner.loop, noise: noise, state: pool)
            let bad = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                     miner: TestMiner(state: evil, user: "evil"))
            bad.connect()
            let fine = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                      miner: TestMiner(state: good, shares: 2))
            fine.connect()
            return (server, bad, fine)
        })
        #expect(try runner.wait { evil.closedReason != nil && good.acks.count == 2 && pool.closed.count == 1 })
        try runner.sync {
            #expect(handles.value.0.statistics.rejectedFrames == 1)
            #expect(pool.closed.count == 1)
            #expect(pool.closed.first?.1 == .error(.rejected("user refused")))
            #expect(handles.value.2.isReady)
        }
        // The survivor keeps being served after the failure.
        try runner.sync {
            try handles.value.2.send(SubmitSharesStandard(channelID: good.channel!, sequenceNumber: 9, jobID: 1, nonce: 1, ntime: 0, version: 0))
        }
        #expect(try runner.wait { good.acks.last == 9 })
    }
}

extension ServiceTests {
    @Test(arguments: ReactorBackend.allCases)
    func clientDisconnectingMidFrame(backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let pool = PoolState()
        let server = Box(try runner.sync { try makeServer(runner.loop, noise: false, state: pool) })
        let address = try runner.sync { server.value.localAddress! }
        // A client that sets up, opens a channel, then dies in the middle of a share frame.
        let setup = try clientConfiguration(server: address, noise: false).setupConnection.encodedFrame()
        let open = try OpenStandardMiningChannel(requestID: 1, userIdentity: "x", nominalHashRate: 1, maxTarget: .max).encodedFrame()
        let share = try SubmitSharesStandard(channelID: 1, sequenceNumber: 0, jobID: 1, nonce: 1, ntime: 0, version: 0).encodedFrame()
        let raw = try RawSocket(connectingTo: address)
        raw.send(setup + open + Array(share.prefix(11)))
        #expect(try runner.wait { pool.setUp.count == 1 && server.value.connections.owner(ofChannel: 1) != nil })
        raw.close()
        #expect(try runner.wait { pool.closed.count == 1 })
        try runner.sync {
            #expect(pool.shares == 0)  // the half share was never dispatched
            if case .peerClosed = pool.closed[0].1 {} else { Issue.record("unexpected reason \(pool.closed[0].1)") }
            #expect(server.value.connections.owner(ofChannel: 1) == nil)  // its channel was freed
            #expect(server.value.statistics.errors == 0)
        }
        // The server keeps serving.
        let miner = MinerState()
        let client = Box(try runner.sync { () -> TestClient in
            let client = try makeClient(runner.loop, server: address, noise: false, miner: TestMiner(state: miner, shares: 2))
            client.connect()
            return client
        })
        #expect(try runner.wait { miner.acks.count == 2 })
        _ = client
    }
}

/// A Template Distribution client handler that records templates (used where a second protocol is needed).
struct RecordingTemplateClient: Sv2TemplateDistributionClientHandler {
    var templates: [UInt64] = []
    mutating func handle(_ message: NewTemplateView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        templates.append(message.templateID)
    }
}
