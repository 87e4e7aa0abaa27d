import Dispatch
import Foundation
import Glibc
import Logging
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service

/// Collects log lines from any thread: counts warnings per `error` metadata label and keeps the last 100 lines
/// (floods log thousands of lines; storing them all would show up in the RSS measurements).
final class LogRecorder: @unchecked Sendable {
    struct Entry {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    private let lock = NSLock()
    private var entries: [Entry] = []
    private var warningsByLabel: [String: Int] = [:]
    private var suppressedLines = 0
    private var linesSeen = 0

    var recent: [Entry] { lock.withLock { entries } }

    func append(_ entry: Entry) {
        lock.withLock {
            linesSeen += 1
            if entries.count == 100 { entries.removeFirst() }
            entries.append(entry)
            if entry.level == .warning, let label = entry.metadata["error"]?.description {
                warningsByLabel[label, default: 0] += 1
            }
            if let count = entry.metadata["suppressed"].flatMap({ Int($0.description) }) { suppressedLines += count }
        }
    }

    /// Lines the log rate limit suppressed, as announced by its "suppressed N" summaries.
    var suppressed: Int { lock.withLock { suppressedLines } }

    /// Every line logged so far, summaries included (the recorder keeps only the last 100 lines' text).
    var totalLines: Int { lock.withLock { linesSeen } }

    /// Number of warning lines whose `error` metadata is `label`.
    func warnings(_ label: String) -> Int { lock.withLock { warningsByLabel[label] ?? 0 } }

    var logger: Logger { Logger(label: "test.server") { _ in RecordingLogHandler(recorder: self) } }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.append(.init(
            level: event.level, message: event.message.description,
            metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

/// Whether this process runs under AddressSanitizer or ThreadSanitizer (their shadow memory and quarantines make
/// RSS bounds meaningless; RSS checks are skipped there).
let runningUnderSanitizer: Bool = {
    let handle = dlopen(nil, RTLD_NOW)
    defer { if let handle { dlclose(handle) } }
    return dlsym(handle, "__asan_init") != nil || dlsym(handle, "__tsan_init") != nil
}()

/// RSS bounds are asserted only when the memory tests run alone: CI's serial memory step sets
/// `SV2_MEMORY_CHECKS=1` (`.ci/run`). In a normal parallel `swift test`, other suites allocate in the same process at
/// the same time, so any RSS bound would be flaky; the tests then still run and print what they measured.
let rssChecksEnabled: Bool = ProcessInfo.processInfo.environment["SV2_MEMORY_CHECKS"] == "1" && !runningUnderSanitizer

/// Resident set size of this process in bytes (`/proc/self/statm`, second field).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

enum HostileError: Error { case closed, unexpected(String) }

/// A hand-driven Sv2 client over a blocking socket that can say anything: raw headers, wrong lengths, tampered
/// ciphertext. Does the Noise handshake itself when asked, and records every byte it sent (for replays).
final class HostileClient {
    let socket: RawSocket
    var session: NoiseSession?
    private(set) var sent: [UInt8] = []
    private(set) var actOne: [UInt8] = []

    init(server: SocketAddress, noise: Bool, from source: SocketAddress? = nil) throws {
        socket = try RawSocket(connectingTo: server, from: source)
        // Longer than RawSocket's 5 s: under ThreadSanitizer a loaded loop can take seconds to answer.
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if noise { try handshake() }
    }

    deinit { socket.close() }

    func handshake() throws {
        var initiator = try NoiseInitiator(authorityKey: testAuthority.publicKey)
        var act1 = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
        try act1.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
        send(act1)
        actOne = act1
        let act2 = try read(NoiseInitiator.actTwoSize)
        try act2.withUnsafeBytes { raw in session = try initiator.readActTwo(raw) }
    }

    func send(_ bytes: [UInt8]) {
        sent += bytes
        socket.send(bytes)
    }

    /// Exactly `count` bytes, or `HostileError.closed`.
    func read(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = out.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress! + offset, count - offset, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { throw HostileError.closed }
            offset += n
        }
        return out
    }

    /// A frame as it goes on the wire (encrypted when the handshake was done); `announcedLength` lies about the size.
    func frame(extensionType: UInt16, messageType: UInt8, payload: [UInt8], announcedLength: Int? = nil) -> [UInt8] {
        let length = announcedLength ?? payload.count
        let header = Sv2FrameHeader(extensionType: extensionType, messageType: messageType, payloadLength: length)
        guard session != nil else {
            var bytes = [UInt8](repeating: 0, count: Sv2FrameHeader.size)
            bytes.withUnsafeMutableBytes { header.store(to: $0.baseAddress!) }
            return bytes + payload
        }
        var buffer = [UInt8](repeating: 0, count: NoiseSession.encryptedSize(payloadLength: length))
        buffer.withUnsafeMutableBytes { raw in
            header.store(to: raw.baseAddress!)
            UnsafeMutableRawBufferPointer(rebasing: raw[NoiseSession.encryptedHeaderSize...]).copyBytes(from: payload)
            _ = try! session!.encryptFrame(in: raw, payloadLength: length)
        }
        // A lying header is followed by the real payload only (the peer must give up on the header alone).
        return announcedLength == nil ? buffer : Array(buffer[0..<NoiseSession.encryptedHeaderSize])
    }

    func frame<M: Sv2Message>(_ message: M) -> [UInt8] {
        let header = message.frameHeader
        return frame(extensionType: header.extensionType, messageType: header.messageType, payload: try! message.encodedPayload())
    }

    func send<M: Sv2Message>(_ message: M) { send(frame(message)) }

    /// The next frame from the server (decrypted).
    func readFrame() throws -> (header: Sv2FrameHeader, payload: [UInt8]) {
        guard session != nil else {
            let headerBytes = try read(Sv2FrameHeader.size)
            let header = headerBytes.withUnsafeBytes { Sv2FrameHeader(loadingFrom: $0.baseAddress!) }
            return (header, try read(header.payloadLength))
        }
        var headerBytes = try read(NoiseSession.encryptedHeaderSize)
        let header = try headerBytes.withUnsafeMutableBytes { raw in
            try session!.decryptHeader(raw)
            return Sv2FrameHeader(loadingFrom: raw.baseAddress!)
        }
        var payload = try read(NoiseSession.encryptedSize(payloadLength: header.payloadLength) - NoiseSession.encryptedHeaderSize)
        try payload.withUnsafeMutableBytes { try session!.decryptPayload($0, plaintextLength: header.payloadLength) }
        return (header, Array(payload[0..<header.payloadLength]))
    }

    static let setup = SetupConnection(
        protocolID: Sv2Protocol.mining.rawValue, minVersion: 2, maxVersion: 2, flags: 0, endpointHost: "127.0.0.1",
        endpointPort: 3333, vendor: "mallory", hardwareVersion: "", firmware: "", deviceID: "")

    /// SetupConnection for Mining; throws unless the server answers Success.
    func setUp() throws {
        send(Self.setup)
        let (header, _) = try readFrame()
        guard header.knownMessageType == .setupConnectionSuccess else { throw HostileError.unexpected("\(header)") }
    }

    /// Opens a standard channel and returns its id.
    func openChannel() throws -> UInt32 {
        send(OpenStandardMiningChannel(requestID: 1, userIdentity: "mallory", nominalHashRate: 1, maxTarget: .max))
        let (header, payload) = try readFrame()
        guard header.knownMessageType == .openStandardMiningChannelSuccess else { throw HostileError.unexpected("\(header)") }
        return try OpenStandardMiningChannelSuccess(decoding: payload).channelID
    }

    func share(channel: UInt32, sequence: UInt32 = 0) -> SubmitSharesStandard {
        SubmitSharesStandard(channelID: channel, sequenceNumber: sequence, jobID: 1, nonce: sequence, ntime: 0, version: 0)
    }

    /// Whether the server closes the connection within the socket's receive timeout (5 s); drains what it sends.
    func waitForClose() -> Bool { socket.receiveUntilClosed().closed }

    /// Sends every byte of `bytes` but the last, one at a time `pause` apart, from a thread of its own, while waiting
    /// for the server to close the connection (`waitForClose`); returns whether it did and the seconds it took. The
    /// sender is gone before this returns (its descriptor number would be reused by the next socket).
    func dripUntilClosed(_ bytes: [UInt8], pause: Duration) -> (closed: Bool, elapsed: Double) {
        let fd = socket.fd
        let steps = Int((pause / .milliseconds(100)).rounded())  // sleeps of 100 ms, so a stop is seen within one
        let stop = Box(false)
        let lock = NSLock()
        let finished = DispatchSemaphore(value: 0)
        let start = Date()
        let dripper = Thread {
            defer { finished.signal() }
            for byte in bytes.dropLast() {
                var b = byte
                let ok = lock.withLock { !stop.value && Glibc.send(fd, &b, 1, Int32(MSG_NOSIGNAL)) == 1 }
                if !ok { return }
                for _ in 0..<steps where !lock.withLock({ stop.value }) { usleep(100_000) }
            }
        }
        dripper.start()
        let closed = waitForClose()
        let elapsed = Date().timeIntervalSince(start)
        lock.withLock { stop.value = true }
        finished.wait()
        return (closed, elapsed)
    }
}

/// A server with one honest miner attached, for tests that throw hostile peers at it.
final class HostileHarness {
    let runner: LoopRunner
    let noise: Bool
    let pool = PoolState()
    let honest = MinerState()
    let logs = LogRecorder()
    /// Typed errors the server reported through `errorObserver` (loop thread).
    let errors = Box<[Sv2ServiceError]>([])
    let server: Box<TestServer>
    let client: Box<TestClient>
    private var nextSequence: UInt32 = 100

    init(backend: ReactorBackend, noise: Bool, _ configure: @escaping (inout Sv2ServerConfiguration) -> Void = { _ in }) throws {
        runner = try LoopRunner(backend)
        self.noise = noise
        let (pool, honest, logs, errors, runner) = (pool, honest, logs, errors, runner)
        let handles = try runner.sync { () -> (TestServer, TestClient) in
            let server = try TestServer(
                configuration: serverConfiguration(noise: noise, configure), eventLoop: runner.loop,
                mining: TestPool(state: pool), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler(), logger: logs.logger)
            server.connections.errorObserver = { _, error in errors.value.append(error) }
            try server.start()
            let client = try makeClient(runner.loop, server: server.localAddress!, noise: noise,
                                        miner: TestMiner(state: honest, shares: 0))
            client.connect()
            return (server, client)
        }
        server = Box(handles.0)
        client = Box(handles.1)
        guard try runner.wait(timeout: 10, { honest.channel != nil }) else { throw HostileError.unexpected("honest miner not ready") }
    }

    var address: SocketAddress { server.value.localAddress! }
    var honestChannel: UInt32 { try! runner.sync { self.honest.channel! } }

    func statistics() throws -> Sv2ServiceStatistics { try runner.sync { self.server.value.statistics } }
    func reportedErrors() throws -> [Sv2ServiceError] { try runner.sync { self.errors.value } }
    func openConnections() throws -> Int { try runner.sync { self.server.value.connections.count } }

    /// The honest miner submits a share and gets it acknowledged.
    func honestShareIsAcknowledged() throws -> Bool {
        nextSequence += 1
        let sequence = nextSequence
        try runner.sync {
            try self.client.value.send(SubmitSharesStandard(
                channelID: self.honest.channel!, sequenceNumber: sequence, jobID: 1, nonce: sequence, ntime: 0, version: 0))
        }
        return try runner.wait { self.honest.acks.last == sequence }
    }

    func stop() { runner.stop() }
}
