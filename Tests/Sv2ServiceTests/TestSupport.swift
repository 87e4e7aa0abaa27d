import CUring
import Dispatch
import Foundation
import Glibc
@_exported import LoopTestSupport
@testable import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service

/// What the test pool saw (shared by reference so the test can read it on the loop thread).
final class PoolState {
    var nextChannel: UInt32 = 1
    var shares = 0
    var setUp: [Sv2ConnectionID] = []
    var closed: [(Sv2ConnectionID, Sv2CloseReason)] = []
}

/// A tiny pool: opens standard channels, acknowledges every share, refuses the user "evil" by throwing.
struct TestPool: Sv2MiningServerHandler {
    let state: PoolState

    mutating func connectionDidSetUp(context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.setUp.append(context.connectionID)
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        state.closed.append((connectionID, reason))
    }

    mutating func handle(_ message: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        if String(decoding: message.userIdentity, as: UTF8.self) == "evil" { throw .rejected("user refused") }
        let id = state.nextChannel
        state.nextChannel += 1
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: message.requestID, channelID: id, target: .max, extranoncePrefix: [1, 2, 3, 4],
            groupChannelID: 0))
    }

    mutating func handle(_ message: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.shares += 1
        try context.send(SubmitSharesSuccess(
            channelID: message.channelID, lastSequenceNumber: message.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1))
    }
}

/// What a test miner saw.
final class MinerState {
    var ready = false
    var channel: UInt32?
    var acks: [UInt32] = []
    var errors: [String] = []
    var closedReason: Sv2CloseReason?
}

/// A miner that opens one standard channel on setup and submits `shares` shares once it is open.
struct TestMiner: Sv2MiningClientHandler {
    let state: MinerState
    var user = "alice"
    var shares = 1

    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.ready = true
        try context.send(OpenStandardMiningChannel(requestID: 7, userIdentity: user, nominalHashRate: 1e12, maxTarget: .max))
    }

    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        state.closedReason = reason
    }

    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.channel = message.channelID
        for sequence in 0..<UInt32(shares) {
            try context.send(SubmitSharesStandard(
                channelID: message.channelID, sequenceNumber: sequence, jobID: 1, nonce: sequence, ntime: 0, version: 0))
        }
    }

    mutating func handle(_ message: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.acks.append(message.lastSequenceNumber)
    }

    mutating func handle(_ message: OpenMiningChannelErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.errors.append(String(decoding: message.errorCode, as: UTF8.self))
    }
}

typealias TestServer = Sv2Server<TestPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
typealias TestClient = Sv2Client<TestMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

let testAuthority = try! AuthorityKeyPair.generate()
let loopback = try! SocketAddress(ip: "127.0.0.1", port: 0)

func serverConfiguration(noise: Bool, _ configure: (inout Sv2ServerConfiguration) -> Void = { _ in }) -> Sv2ServerConfiguration {
    var configuration = Sv2ServerConfiguration(
        listenAddress: loopback,
        noise: noise ? .freshStaticKeyPerConnection(authority: testAuthority, certificateValidity: 3600) : nil)
    configure(&configuration)
    return configuration
}

func clientConfiguration(
    server: SocketAddress, noise: Bool, sv2Protocol: Sv2Protocol = .mining,
    _ configure: (inout Sv2ClientConfiguration) -> Void = { _ in }
) -> Sv2ClientConfiguration {
    var configuration = Sv2ClientConfiguration(
        serverAddress: server, sv2Protocol: sv2Protocol,
        security: noise ? .noise(authority: testAuthority.publicKey) : .plain)
    configure(&configuration)
    return configuration
}

func makeServer(_ loop: EventLoop, noise: Bool, state: PoolState,
                _ configure: (inout Sv2ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
    let server = try TestServer(
        configuration: serverConfiguration(noise: noise, configure), eventLoop: loop, mining: TestPool(state: state),
        jobDeclaration: NullSv2JobDeclarationServerHandler(),
        templateDistribution: NullSv2TemplateDistributionServerHandler())
    try server.start()
    return server
}

func makeClient(_ loop: EventLoop, server: SocketAddress, noise: Bool, miner: TestMiner,
                _ configure: (inout Sv2ClientConfiguration) -> Void = { _ in }) throws -> TestClient {
    try TestClient(
        configuration: clientConfiguration(server: server, noise: noise, configure), eventLoop: loop, mining: miner,
        jobDeclaration: NullSv2JobDeclarationClientHandler(),
        templateDistribution: NullSv2TemplateDistributionClientHandler())
}

/// Every backend with Noise off and on.
let transportMatrix: [(ReactorBackend, Bool)] = ReactorBackend.allCases.flatMap { [($0, false), ($0, true)] }

/// A raw client socket for sending hostile bytes (blocking, with a receive timeout).
struct RawSocket {
    let fd: Int32

    /// Connects to `address`, from `source` (an address of 127.0.0.0/8, port 0) when given: tests use other loopback
    /// addresses to look like other hosts to per-source limits.
    init(connectingTo address: SocketAddress, from source: SocketAddress? = nil) throws {
        var fd: Int32 = -1
        let result = address.withSockAddr { remote, remoteLength in
            guard let source else { return cshims_connect(remote, remoteLength, &fd) }
            return source.withSockAddr { cshims_connect_from(remote, remoteLength, $0, $1, &fd) }
        }
        guard result == 0 || result == -EINPROGRESS else {
            if fd >= 0 { Glibc.close(fd) }
            throw ReactorError.system(-result, "test connect")
        }
        // Wait for the non-blocking connect to finish (retrying on EINTR), and make sure it succeeded: a socket
        // whose connect failed would only show up later as a confusing EOF.
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var ready: Int32 = -1
        repeat { ready = poll(&pfd, 1, 10_000) } while ready < 0 && errno == EINTR
        let failure = cshims_socket_error(fd)
        guard ready == 1, failure == 0 else {
            Glibc.close(fd)
            throw ReactorError.system(failure != 0 ? failure : ETIMEDOUT, "test connect to \(address)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { cshims_send(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads until EOF or the receive timeout; returns the bytes and whether EOF was seen.
    func receiveUntilClosed() -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { cshims_recv(fd, $0.baseAddress!, 65536) }
            if n == 0 { return (out, true) }
            if n < 0 { return (out, n == -Int(ECONNRESET)) }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    func close() { Glibc.close(fd) }
}
