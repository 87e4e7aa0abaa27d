import Dispatch
import Foundation
import Reactor
import Sv1
import Synchronization
import Testing
@testable import Sv2LoadTest

/// A scripted Sv1 server on its own loop thread: a correct handshake and job for every device, `true` for every
/// share, except that the device authorized as `<prefix>.0` gets `reply` instead: a bad line in answer to its first
/// share, or an error for every share.
final class HostileSv1Server: @unchecked Sendable {
    /// What the bad connection gets in answer to its first share.
    enum Reply: String, CaseIterable, CustomTestStringConvertible {
        /// A line that is not JSON.
        case garbage
        /// A line longer than the load generator accepts, never terminated.
        case endlessLine
        /// `[23, "low difficulty", null]` for every share (a well-formed rejection).
        case rejectEveryShare
        var testDescription: String { rawValue }
    }

    let loop: EventLoop
    let reply: Reply
    /// Shares answered `true` (loop thread while it runs; read after `stop()`).
    let accepted = Mutex(0)
    /// Shares answered with an error.
    let rejected = Mutex(0)
    /// The first few `mining.submit` lines as received, with what `Sv1Line.submit` encodes from their decoded
    /// fields: the load generator writes its submits byte by byte for speed, and must write exactly that.
    let submitLines = Mutex<[(received: String, reencoded: String)]>([])
    private var listener: Listener?
    private let finished = DispatchSemaphore(value: 0)

    init(reply: Reply) throws {
        self.reply = reply
        loop = try EventLoop(configuration: EventLoopConfiguration(backend: .epoll))
        let started = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        loop.execute { [self] in
            do throws(ReactorError) {
                listener = try loop.listen(on: try! SocketAddress(ip: "127.0.0.1", port: 0)) { [self] _ in
                    Device(server: self)
                }
            } catch {
                failure.withLock { $0 = error }
            }
            started.signal()
        }
        Thread { [self] in
            try? loop.run()
            finished.signal()
        }.start()
        started.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    var address: SocketAddress { listener!.localAddress }

    func stop() {
        loop.execute { [self] in
            listener?.close()
            loop.stop(gracePeriod: .milliseconds(100))
        }
        _ = finished.wait(timeout: .now() + 5)
    }

    /// One device's connection.
    final class Device: ConnectionHandler {
        unowned let server: HostileSv1Server
        private let splitter = Sv1LineSplitter()
        private var isTarget = false
        private var isSilenced = false

        init(server: HostileSv1Server) { self.server = server }

        func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
            func send(_ line: String) {
                var line = line
                line.withUTF8 { _ = connection.write(UnsafeRawBufferPointer($0)) }
            }
            let consumed = try? splitter.split(UnsafeRawBufferPointer(bytes)) { line in
                guard let request = try? Sv1Request(line: line) else { return true }
                switch request.method {
                case .configure:
                    send(Sv1Line.configureResult(id: request.id, versionRollingMask: 0x1fff_e000, minimumDifficulty: nil))
                case .subscribe:
                    send(Sv1Line.subscribeResult(
                        id: request.id, subscriptionID: "s", extranonce1: [1, 2, 3, 4], extranonce2Size: 4))
                case .authorize(let user, _):
                    isTarget = user.hasSuffix(".0")
                    send(Sv1Line.result(id: request.id, "true"))
                    send(Sv1Line.setDifficulty(2.5e-10))
                    send(Sv1Line.notify(Sv1Notify(
                        jobID: "1", prevHash: [UInt8](repeating: 7, count: 32), coinbase1: [0x01, 0x02],
                        coinbase2: [0x03], merkleBranch: [[UInt8](repeating: 9, count: 32)], version: 0x2000_0000,
                        nbits: 0x1d00_ffff, ntime: 0x6500_0000, cleanJobs: true)))
                case .submit(let submit):
                    server.submitLines.withLock {
                        if $0.count < 8 {
                            $0.append((String(decoding: line, as: UTF8.self) + "\n", Sv1Line.submit(id: request.id, submit)))
                        }
                    }
                    // After its bad line the device's connection is dead: nothing more is answered on it.
                    guard !isSilenced else { return true }
                    if isTarget {
                        switch server.reply {
                        case .garbage: send("}{ not json at all\n")
                        case .endlessLine: send(String(repeating: "a", count: SimulatedSv1Miner.maximumLineLength + 4096))
                        case .rejectEveryShare:
                            server.rejected.withLock { $0 += 1 }
                            send(Sv1Line.error(id: request.id, code: .lowDifficulty, message: "low difficulty"))
                            return true
                        }
                        isSilenced = true
                    } else {
                        server.accepted.withLock { $0 += 1 }
                        send(Sv1Line.result(id: request.id, "true"))
                    }
                default:
                    send(Sv1Line.error(id: request.id, code: .other, message: "unsupported"))
                }
                return true
            }
            return consumed ?? bytes.count
        }

        func connection(_ connection: Connection, didCloseWith reason: CloseReason) {}
    }
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct Sv1HostileServerTests {
    /// Three Sv1 devices in closed loop (4 shares in flight each) for one second against `server`.
    static func closedLoop(_ server: HostileSv1Server) -> LoadTestConfiguration {
        var configuration = LoadTestConfiguration(serverAddress: server.address)
        configuration.stratumV1 = true
        configuration.connections = 3
        configuration.backend = .epoll
        configuration.sharesPerSecond = 0
        configuration.sharesInFlight = 4
        configuration.rampUp = .zero
        configuration.duration = .seconds(1)
        configuration.drainTimeout = .seconds(20)
        return configuration
    }

    /// A server line the load generator cannot use (not JSON, or longer than its cap) counts one protocol error and
    /// closes that device's connection only: the others keep mining and every share of theirs is answered.
    @Test(arguments: [HostileSv1Server.Reply.garbage, .endlessLine])
    func aBadLineClosesOnlyItsConnection(_ reply: HostileSv1Server.Reply) throws {
        let server = try HostileSv1Server(reply: reply)
        defer { server.stop() }
        let configuration = Self.closedLoop(server)
        let report = try LoadTest(configuration: configuration).run()
        let c = report.counters
        #expect(c.protocolErrors == 1)
        #expect(c.handshakesCompleted == 3 && c.channelsOpened == 3)
        #expect(c.unexpectedCloses == 0 && c.connectFailures == 0 && c.handshakeFailures == 0)
        // The closed device's shares were never answered, and are reported lost; every other share was accepted.
        #expect(c.sharesLostOnClose == 4)
        #expect(c.sharesSent == c.sharesAccepted + c.sharesLostOnClose)
        #expect(c.sharesAccepted == server.accepted.withLock { $0 })
        #expect(c.sharesAccepted > 2 * 4)  // more than the healthy devices' first window: they kept mining
        #expect(!report.nothingLost.passed)
        // The report says what was wrong, not only how often.
        let reason = reply == .garbage ? "malformed JSON" : "line longer than \(SimulatedSv1Miner.maximumLineLength) bytes"
        #expect(c.firstProtocolError == reason)
        #expect(report.nothingLost.problems.contains("1 malformed lines from the server (first: \(reason))"))
        Self.expectSubmitsAsSv1LineWritesThem(server, withVersionBits: true)
    }

    /// The load generator's hand-written `mining.submit` is byte for byte what `Sv1Line.submit` writes for the same
    /// fields (one layout, two writers: the generator's avoids building a `String` per share).
    static func expectSubmitsAsSv1LineWritesThem(_ server: HostileSv1Server, withVersionBits: Bool) {
        let lines = server.submitLines.withLock { $0 }
        #expect(lines.count == 8)
        for (received, reencoded) in lines {
            #expect(received == reencoded)
            #expect(received.contains("\",\"") && received.hasSuffix("]}\n"))
            // Six params with rolled version bits, five without.
            #expect(received.split(separator: ",").count == (withVersionBits ? 8 : 7), "\(received)")
        }
    }

    /// Error answers are matched to their shares by id and counted as rejections under their code; nothing is lost
    /// and the totals agree with the server's.
    @Test func rejectionsAreMatchedAndCounted() throws {
        let server = try HostileSv1Server(reply: .rejectEveryShare)
        defer { server.stop() }
        var configuration = Self.closedLoop(server)
        configuration.sv1VersionRollingMask = nil
        var report = try LoadTest(configuration: configuration).run()
        report.check(serverAccepted: server.accepted.withLock { $0 }, serverRejected: server.rejected.withLock { $0 })
        let c = report.counters
        #expect(report.nothingLost.passed, "\(report.nothingLost.problems)")
        #expect(c.sharesRejected > 4 && c.sharesAccepted > 2 * 4)
        #expect(c.rejectionCodes == ["23-low-difficulty": c.sharesRejected])
        #expect(c.sharesSent == c.sharesAccepted + c.sharesRejected)
        #expect(c.protocolErrors == 0 && c.unmatchedAcknowledgements == 0 && c.sharesLostOnClose == 0)
        Self.expectSubmitsAsSv1LineWritesThem(server, withVersionBits: false)
    }

    /// `--handshake-only` and `--idle` work in Stratum V1 mode: subscribe-and-close over and over, or authorized
    /// devices that submit nothing.
    @Test func handshakeOnlyAndIdle() throws {
        let server = try HostileSv1Server(reply: .rejectEveryShare)
        defer { server.stop() }
        var configuration = LoadTestConfiguration(serverAddress: server.address)
        configuration.stratumV1 = true
        configuration.connections = 2
        configuration.backend = .epoll
        configuration.rampUp = .zero
        configuration.duration = .milliseconds(500)
        configuration.handshakeOnly = true
        let handshakes = try LoadTest(configuration: configuration).run()
        #expect(handshakes.nothingLost.passed, "\(handshakes.nothingLost.problems)")
        #expect(handshakes.counters.handshakesCompleted > 2)  // each slot reconnected at least once
        #expect(handshakes.counters.sharesSent == 0 && handshakes.counters.handshakeFailures == 0)

        configuration.handshakeOnly = false
        configuration.idle = true
        let idle = try LoadTest(configuration: configuration).run()
        #expect(idle.nothingLost.passed, "\(idle.nothingLost.problems)")
        #expect(idle.counters.channelsOpened == 2 && idle.counters.sharesSent == 0)
        #expect(server.accepted.withLock { $0 } == 0 && server.rejected.withLock { $0 } == 0)
    }

    /// Rejections are counted by their Sv1 code, bounded in how many distinct keys they keep.
    @Test func rejectionCodeNames() {
        #expect(SimulatedSv1Miner.codeName(23) == "23-low-difficulty")
        #expect(SimulatedSv1Miner.codeName(-7) == "-7")
    }
}
