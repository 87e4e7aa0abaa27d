import CUring
import Foundation
import Glibc
@testable import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2Miner
@testable import Sv2TemplateProvider
@testable import Sv2JobDeclaration

@Suite("Client side: Job Declaration flow", .serialized)
struct JobDeclarationTests {
    typealias JDSServer =
        Sv2Server<NullSv2MiningServerHandler, JobDeclaratorServerHandler, NullSv2TemplateDistributionServerHandler>

    static let payout = TxOutput(value: 0, script: [0x00, 0x14] + [UInt8](repeating: 0x42, count: 20))
    /// A declared coinbase paying the whole subsidy of height 5 to the pool (BIP141 fields kept).
    static let coinbase = try! Coinbase(
        version: 2, scriptSigPrefix: [0x01, 0x05], tag: [], extranonceLength: 8, sequence: 0xffff_ffff,
        poolOutputs: [TxOutput(value: 5_000_000_000, script: payout.script)], templateOutputs: [],
        templateOutputCount: 0, locktime: 0
    ).parts(witness: true)
    static let transactions: [[UInt8]] = (1...3).map { [0x02, 0, 0, 0, 0x01] + [UInt8](repeating: $0, count: 60) }

    static func start(_ runner: ClientTestLoop, jds: JobDeclaratorServer, clients: Int) throws -> (JDSServer, [JobDeclarationClient]) {
        try runner.sync {
            let server = try JDSServer(
                configuration: Sv2ServerConfiguration(listenAddress: clientLoopback), eventLoop: runner.loop,
                mining: NullSv2MiningServerHandler(), jobDeclaration: jds.handler,
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            let jdcs = try (0..<clients).map { index in
                let client = try JobDeclaratorClient.makeClient(
                    userIdentifier: "jdc-\(index)",
                    server: Sv2ClientConfiguration(
                        serverAddress: server.localAddress!, sv2Protocol: .jobDeclaration, security: .plain),
                    eventLoop: runner.loop)
                client.connect()
                return client
            }
            return (server, jdcs)
        }
    }

    @Test func declarationWithMissingTransactionsIsAccepted() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        jds.addTransaction(Self.transactions[0])  // the server already knows the first one
        let (server, clients) = try Self.start(runner, jds: jds, clients: 1)
        let jdc = clients[0].jobDeclaration.state
        #expect(try runner.wait { jdc.tokens.count == 2 })
        runner.inspect {
            // Tokens carry the pool outputs, CompactSize-prefixed.
            #expect(jdc.tokens[0].coinbaseOutputs == [0x01] + Self.payout.serialized)
            #expect(Set(jdc.tokens.map(\.bytes)).count == 2)
        }
        let requestID = try runner.sync {
            try jdc.declare(
                version: 0x2000_0000, coinbasePrefix: Self.coinbase.prefix, coinbaseSuffix: Self.coinbase.suffix,
                transactions: Self.transactions)
        }
        #expect(try runner.wait { jdc.declarations[requestID] != .pending })
        runner.inspect {
            guard case .accepted(let token) = jdc.declarations[requestID] else {
                Issue.record("declaration not accepted: \(String(describing: jdc.declarations[requestID]))")
                return
            }
            // Positions 1 and 2 were asked for and provided; the job is on file under the new token.
            #expect(jds.statistics.missingTransactionRequests == 1 && jds.statistics.transactionsProvided == 2)
            #expect(jdc.statistics.transactionsProvided == 2)
            let job = jds.declaredJob(token: token)
            #expect(job?.wtxids == Self.transactions.map { SHA256d.hash($0) })
            #expect(job?.version == 0x2000_0000)
            #expect(jds.mempoolCount == 3)
            // A token was used: the client topped up to two again.
            #expect(jds.statistics.tokensAllocated == 3)
        }
        _ = server
    }

    @Test func tokensAreSingleUseAndBoundToTheirConnection() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        let (server, clients) = try Self.start(runner, jds: jds, clients: 2)
        let (first, second) = (clients[0].jobDeclaration.state, clients[1].jobDeclaration.state)
        #expect(try runner.wait { first.tokens.count == 2 && second.tokens.count == 2 })
        let (stolen, reused, own) = try runner.sync { () -> (UInt32, UInt32, UInt32) in
            let token = first.tokens[0].bytes
            let stolen = try second.declare(
                version: 1, coinbasePrefix: Self.coinbase.prefix, coinbaseSuffix: Self.coinbase.suffix, transactions: [], token: token)
            let own = try first.declare(version: 1, coinbasePrefix: Self.coinbase.prefix, coinbaseSuffix: Self.coinbase.suffix, transactions: [])
            let reused = try first.declare(version: 1, coinbasePrefix: Self.coinbase.prefix, coinbaseSuffix: Self.coinbase.suffix, transactions: [], token: token)
            return (stolen, reused, own)
        }
        #expect(try runner.wait { first.declarations[reused] != .pending && second.declarations[stolen] != .pending })
        runner.inspect {
            #expect(second.declarations[stolen] == .rejected(code: "invalid-mining-job-token"))
            if case .accepted = first.declarations[own] {} else { Issue.record("own token refused") }
            #expect(first.declarations[reused] == .rejected(code: "invalid-mining-job-token"))
            // Typed and counted: the token of another connection, then a token already used.
            #expect(jds.statistics.rejections == ["foreign-token": 1, "replayed-token": 1])
        }
        _ = server
    }

    /// The server's per-connection maps are bounded: unused tokens (one more allocation closes the connection with a
    /// typed error) and declarations waiting for missing transactions (one more is refused with a clear code).
    @Test func perConnectionMapsAreBounded() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        jds.maximumTokensPerConnection = 4
        jds.maximumPendingDeclarationsPerConnection = 2
        let (server, _) = try Self.start(runner, jds: jds, clients: 0)
        let address = try runner.sync { server.localAddress! }
        let peer = try BlockingFramePeer(connectingTo: address)
        defer { peer.close() }
        try peer.send(SetupConnection(
            protocolID: Sv2Protocol.jobDeclaration.rawValue, minVersion: 2, maxVersion: 2, flags: 0,
            endpointHost: "127.0.0.1", endpointPort: 1, vendor: "test", hardwareVersion: "", firmware: "", deviceID: ""))
        #expect(try peer.readFrame().header.knownMessageType == .setupConnectionSuccess)
        var tokens: [[UInt8]] = []
        for request in 1...3 {
            try peer.send(AllocateMiningJobToken(userIdentifier: "u", requestID: UInt32(request)))
            let (header, payload) = try peer.readFrame()
            #expect(header.knownMessageType == .allocateMiningJobTokenSuccess)
            tokens.append(try AllocateMiningJobTokenSuccess(decoding: payload).miningJobToken)
        }
        // Three declarations naming a transaction the server does not know: two wait, the third is refused.
        let unknown = U256(limbs: (1, 2, 3, 4))
        for (index, token) in tokens.enumerated() {
            try peer.send(DeclareMiningJob(
                requestID: UInt32(10 + index), miningJobToken: token, version: 1, coinbaseTxPrefix: Self.coinbase.prefix,
                coinbaseTxSuffix: Self.coinbase.suffix, wtxidList: [unknown], excessData: []))
            let (header, payload) = try peer.readFrame()
            if index < 2 {
                #expect(header.knownMessageType == .provideMissingTransactions)
            } else {
                #expect(header.knownMessageType == .declareMiningJobError)
                #expect(try DeclareMiningJobError(decoding: payload).errorCode == "too-many-pending-declarations")
            }
        }
        // Tokens: 4 may be held unused; the 5th allocation closes the connection.
        // Declaring used the three tokens up; four unused ones may be held, a fifth allocation closes the connection.
        for request in 20..<25 { try peer.send(AllocateMiningJobToken(userIdentifier: "u", requestID: UInt32(request))) }
        var allocated = 0
        while let (header, _) = try? peer.readFrame(), header.knownMessageType == .allocateMiningJobTokenSuccess { allocated += 1 }
        #expect(allocated == 4)
        #expect(try runner.wait { server.statistics.errors("rejected") == 1 && server.connections.count == 0 })
        #expect(jds.statistics.rejections == ["too-many-pending-declarations": 1])
    }

    @Test func pushedSolutionReachesTheServer() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        let received = ClientBox<[PushSolution]>([])
        jds.onSolution = { solution, _ in received.value.append(solution) }
        let (server, clients) = try Self.start(runner, jds: jds, clients: 1)
        let jdc = clients[0].jobDeclaration.state
        #expect(try runner.wait { clients[0].isReady })
        let solution = PushSolution(
            extranonce: [1, 2, 3, 4], prevHash: WireConversions.u256(MinerJobTrackerTests.prevHash), nonce: 7, ntime: 8,
            nbits: 0x207f_ffff, version: 0x2000_0000)
        try runner.sync { try jdc.pushSolution(solution) }
        #expect(try runner.wait { !received.value.isEmpty })
        runner.inspect {
            #expect(received.value == [solution])
            #expect(jds.statistics.solutionsPushed == 1 && jdc.statistics.solutionsPushed == 1)
        }
        _ = server
    }
}

/// A plain (no Noise) Sv2 peer over a blocking socket, for driving a server message by message.
struct BlockingFramePeer {
    let fd: Int32

    init(connectingTo address: SocketAddress) throws {
        var fd: Int32 = -1
        let result = address.withSockAddr { cshims_connect($0, $1, &fd) }
        guard result == 0 || result == -EINPROGRESS else { throw ReactorError.system(-result, "test connect") }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var ready: Int32 = -1
        repeat { ready = poll(&pfd, 1, 10_000) } while ready < 0 && errno == EINTR
        guard ready == 1, cshims_socket_error(fd) == 0 else {
            Glibc.close(fd)
            throw ReactorError.system(ETIMEDOUT, "test connect")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    func send<M: Sv2Message>(_ message: M) throws {
        let bytes = try message.encodedFrame()
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { cshims_send(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard n > 0 else { throw ReactorError.system(Int32(-n), "test send") }
            offset += n
        }
    }

    private func read(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = out.withUnsafeMutableBytes { cshims_recv(fd, $0.baseAddress! + offset, count - offset) }
            guard n > 0 else { throw ReactorError.system(n == 0 ? ECONNRESET : Int32(-n), "test receive") }
            offset += n
        }
        return out
    }

    /// The next frame, or an error once the server closed the connection.
    func readFrame() throws -> (header: Sv2FrameHeader, payload: [UInt8]) {
        let headerBytes = try read(Sv2FrameHeader.size)
        let header = headerBytes.withUnsafeBytes { Sv2FrameHeader(loadingFrom: $0.baseAddress!) }
        return (header, try read(header.payloadLength))
    }

    func close() { Glibc.close(fd) }
}

extension JobDeclarationTests {
    /// Signed tokens that aged to within the margin of their expiry are dropped unused and replaced (a pool would
    /// refuse them); one that arrived with less life than the margin is kept (no allocation churn).
    @Test func expiringTokensAreReplaced() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let clock = Box<UInt64>(1_800_000_000)
        let jds = JobDeclaratorServer(coinbaseOutputs: [Self.payout])
        jds.now = { clock.value }
        let (client, server) = try runner.sync { () -> (JobDeclarationClient, JDSServer) in
            let server = try JDSServer(
                configuration: Sv2ServerConfiguration(listenAddress: clientLoopback), eventLoop: runner.loop,
                mining: NullSv2MiningServerHandler(), jobDeclaration: jds.handler,
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            let client = try JobDeclaratorClient.makeClient(
                userIdentifier: "jdc",
                server: Sv2ClientConfiguration(serverAddress: server.localAddress!, sv2Protocol: .jobDeclaration, security: .plain),
                eventLoop: runner.loop)
            client.jobDeclaration.state.now = { clock.value }
            client.connect()
            return (client, server)
        }
        defer { _ = try? runner.sync { client.close(); server.stop() } }
        let jdc = client.jobDeclaration.state
        #expect(try runner.wait { jdc.tokens.count == 2 })
        let old = try runner.sync { () -> [[UInt8]] in
            let old = jdc.tokens.map(\.bytes)
            clock.value += UInt64(jds.tokenLifetime) - 30  // within the 60 s margin of expiry
            #expect(jdc.takeToken() == nil)  // both dropped, two more asked for
            #expect(jdc.statistics.tokensExpired == 2)
            return old
        }
        #expect(try runner.wait { jdc.tokens.count == 2 })
        try runner.sync {
            let fresh = try #require(jdc.takeToken())
            #expect(!old.contains(fresh.bytes))
            #expect(try MiningJobToken(parsing: fresh.bytes).expires == UInt32(clock.value) + jds.tokenLifetime)
            #expect(jds.statistics.tokensAllocated == 4)  // the one asked for just now is on its way
            // A JD server handing out tokens shorter-lived than the margin: they are used, not churned.
            jds.tokenLifetime = 30
            _ = jdc.takeToken()
        }
        #expect(try runner.wait { jdc.tokens.count == 2 && jds.statistics.tokensAllocated == 6 })
        try runner.sync {
            #expect(jdc.takeToken() != nil)
            #expect(jdc.statistics.tokensExpired == 2)
        }
    }
}
