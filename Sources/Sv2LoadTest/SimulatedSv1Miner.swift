import Reactor
import Sv1
import Sv2Bitcoin

/// One simulated Stratum V1 device: `mining.configure` (version rolling, optional), `mining.subscribe`,
/// `mining.authorize` with its own user, then follows `mining.set_difficulty` and `mining.notify` and submits shares
/// whose header really meets the difficulty (coinbase `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`, merkle root up
/// the branch, Sv1-order prevhash), so the endpoint does real validation work. Each share rolls extranonce2 from a
/// counter (and the version bits when rolling was granted), so shares never repeat.
///
/// Shares are JSON-RPC requests whose id is the share's ``ShareClock`` sequence number plus ``shareIDBase``: answers
/// are matched by id, `true` counts accepted, an error rejected (by its code). A line that is not a valid server
/// message, or one longer than ``maximumLineLength``, counts a protocol error and closes this connection only.
///
/// Per share only the extranonce2 is rewritten (the coinbase's prefix is hashed once per job) and the `mining.submit`
/// line is encoded straight into the connection's write buffer, and the usual acceptance
/// `{"id":N,"result":true,"error":null}` is recognised byte for byte (``Sv1AcceptedAnswer``); every other line is
/// parsed with `Sv1ServerMessage` (Foundation JSON, which allocates, as the translator's own parsing does). Loop thread
/// only.
final class SimulatedSv1Miner: ConnectionHandler {
    /// Ids below this are the handshake's (configure 1, subscribe 2, authorize 3); shares are `shareIDBase + sequence`.
    static let shareIDBase: Int64 = 16
    /// The longest server line accepted (a `mining.notify` with a large coinbase and branch is a few kB).
    static let maximumLineLength = 64 << 10
    private static let configureID: Int64 = 1
    private static let subscribeID: Int64 = 2
    private static let authorizeID: Int64 = 3

    unowned(unsafe) let worker: LoadTestWorker
    /// The miner's slot in its worker.
    let slot: Int
    /// The `mining.authorize` user, also the `mining.submit` worker name, as a JSON string literal.
    private let quotedUser: [UInt8]
    private let user: String
    private var connection: Connection?
    private let splitter = Sv1LineSplitter(maxLineLength: SimulatedSv1Miner.maximumLineLength)
    private var clock = ShareClock()
    /// When the miner could first submit (rate mode paces from here).
    private(set) var miningSince: UInt64 = 0
    /// Shares submitted so far.
    private(set) var sharesSent = 0

    private var subscribed = false
    private var authorized = false
    private var extranonce1: [UInt8] = []
    private var extranonce2Size = 0
    private var versionMask: UInt32 = 0
    private var target: Target?

    // The current job, prepared for per-share work.
    private var hasJob = false
    /// SHA-256 of `coinb1 ‖ extranonce1`, absorbed once per job: a share only hashes `extranonce2 ‖ coinb2` on top
    /// (as `ShareJob` does for Sv2 extended jobs).
    private var coinbaseMidstate: SHA256Midstate?
    /// The extranonce2 of the current share, overwritten per share.
    private var extranonce2: [UInt8] = []
    private var coinbase2: [UInt8] = []
    private var branch: [Hash256] = []
    private var prevHash = Hash256.zero
    private var jobVersion: UInt32 = 0
    private var nbits: UInt32 = 0
    private var ntime: UInt32 = 0
    /// The job id as a JSON string literal.
    private var quotedJobID: [UInt8] = []
    private var extranonce2Counter: UInt64 = 0
    private var nonce: UInt32 = 0
    private var rollCounter: UInt32 = 0

    init(worker: LoadTestWorker, slot: Int, user: String) {
        self.worker = worker
        self.slot = slot
        self.user = user
        quotedUser = Array(Sv1JSON.quote(user).utf8)
    }

    /// Whether a share can be built (subscribed, authorized, a job and a difficulty known).
    var canSubmit: Bool { connection != nil && authorized && hasJob && target != nil }

    /// Shares awaiting an answer.
    var outstanding: Int { clock.outstanding }

    /// The sequence number the next share will get.
    var nextSequence: UInt32 { clock.next }

    /// See ``SimulatedMiner/restampShares(from:at:)``.
    func restampShares(from first: UInt32, at now: UInt64) { clock.restamp(from: first, at: now) }

    // MARK: Connection

    /// Connects from `source` (when given) and runs the handshake; the worker hears of the outcome through
    /// ``LoadTestWorker/sv1StateChanged(slot:_:)``.
    func connect(to address: SocketAddress, from source: SocketAddress?, timeout: Duration) {
        worker.loop.connect(to: address, from: source, timeout: timeout, handler: self) { [unowned(unsafe) self] result in
            switch result {
            case .success(let connection):
                self.connection = connection
                self.worker.sv1StateChanged(slot: self.slot, .connected)
                self.handshake()
            case .failure:
                self.worker.sv1StateChanged(slot: self.slot, .closed)
            }
        }
    }

    /// Closes the connection (the worker's own close, not a failure).
    func close() { connection?.close() }

    private func handshake() {
        if let mask = worker.configuration.sv1VersionRollingMask {
            send(Sv1Line.configureVersionRolling(id: .number(Self.configureID), mask: mask))
        }
        send(Sv1Line.subscribe(id: .number(Self.subscribeID), userAgent: "swift-stratum-loadtest/1.0"))
        send(Sv1Line.authorize(
            id: .number(Self.authorizeID), user: user, password: worker.configuration.sv1Password))
    }

    private func send(_ line: String) {
        var line = line
        line.withUTF8 { _ = connection?.write(UnsafeRawBufferPointer($0)) }
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        var failure: Sv1ProtocolError?
        let consumed: Int
        do throws(Sv1ProtocolError) {
            consumed = try splitter.split(UnsafeRawBufferPointer(bytes)) { line in
                if let id = Sv1AcceptedAnswer.id(in: line) {
                    answer(.number(id), .accepted)
                    return self.connection != nil
                }
                do throws(Sv1ProtocolError) {
                    handle(try Sv1ServerMessage(line: line))
                    return self.connection != nil
                } catch {
                    failure = error
                    return false
                }
            }
        } catch {
            failure = error
            consumed = bytes.count
        }
        if let failure {
            // A server that sends garbage cannot be followed: count it and drop this connection only.
            worker.counters.protocolErrors += 1
            if worker.counters.firstProtocolError == nil { worker.counters.firstProtocolError = "\(failure)" }
            worker.sv1StateChanged(slot: slot, .closingOnError)
            connection.abort()
            return bytes.count
        }
        return consumed
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        worker.counters.sharesLostOnClose += clock.outstanding
        self.connection = nil
        worker.sv1StateChanged(slot: slot, .closed)
    }

    // MARK: Messages

    private func handle(_ message: Sv1ServerMessage) {
        switch message {
        case .setDifficulty(let difficulty):
            target = Target(difficulty: difficulty)
            startMiningIfReady()
        case .notify(let job):
            prepare(job)
            startMiningIfReady()
        case .setExtranonce(let extranonce1, let size):
            // Applies from the next notify on: the job in hand was built for the old extranonce1.
            self.extranonce1 = extranonce1
            extranonce2Size = size
            hasJob = false
        case .reconnect, .other:
            break
        case .response(let id, let result):
            answer(id, result)
        }
    }

    private func answer(_ id: Sv1ID, _ result: Sv1ServerMessage.Sv1Result) {
        guard case .number(let number) = id else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        if number >= Self.shareIDBase {
            return answerShare(number - Self.shareIDBase, result)
        }
        switch number {
        case Self.configureID:
            if case .configured(let mask) = result, let requested = worker.configuration.sv1VersionRollingMask {
                versionMask = mask & requested
            }
        case Self.subscribeID:
            guard case .subscribed(let extranonce1, let size) = result, !subscribed else {
                // No extranonce, no work: a failed handshake (the close counts it).
                connection?.close()
                return
            }
            subscribed = true
            self.extranonce1 = extranonce1
            extranonce2Size = size
            worker.didSetUp(slot: slot)
        case Self.authorizeID:
            guard case .accepted = result, !authorized else {
                worker.counters.channelOpenFailures += 1
                return
            }
            authorized = true
            worker.counters.channelsOpened += 1
            startMiningIfReady()
        default:
            worker.counters.unmatchedAcknowledgements += 1
        }
    }

    private func answerShare(_ offset: Int64, _ result: Sv1ServerMessage.Sv1Result) {
        guard offset <= Int64(UInt32.max) else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        let worker = self.worker
        guard clock.acknowledge(UInt32(offset), at: LatencyClock.now(), { worker.record(latency: $0) }) else {
            worker.counters.unmatchedAcknowledgements += 1
            return
        }
        switch result {
        case .accepted:
            worker.counters.sharesAccepted += 1
        case .error(let code, _):
            worker.counters.sharesRejected += 1
            worker.countRejection(Self.codeName(code))
        case .refused, .subscribed, .configured:
            worker.counters.sharesRejected += 1
            worker.countRejection("false")
        }
        if worker.configuration.sharesPerSecond == 0 { submit(1) }
    }

    /// The rejection key of an Sv1 error code: the common names (cgminer, ckpool) where there is one.
    static func codeName(_ code: Int) -> String {
        switch Sv1ErrorCode(rawValue: code) {
        case .other?: "20-other"
        case .jobNotFound?: "21-job-not-found"
        case .duplicateShare?: "22-duplicate-share"
        case .lowDifficulty?: "23-low-difficulty"
        case .unauthorized?: "24-unauthorized"
        case .notSubscribed?: "25-not-subscribed"
        case nil: "\(code)"
        }
    }

    /// Lays the job out for per-share work: the coinbase's midstate before extranonce2, the branch as hashes.
    private func prepare(_ job: Sv1Notify) {
        guard subscribed, let prev = Hash256(bytes: job.prevHash) else {
            worker.counters.jobErrors += 1
            return
        }
        var hashes: [Hash256] = []
        hashes.reserveCapacity(job.merkleBranch.count)
        for bytes in job.merkleBranch {
            guard let hash = Hash256(bytes: bytes) else {
                worker.counters.jobErrors += 1
                return
            }
            hashes.append(hash)
        }
        branch = hashes
        prevHash = prev
        coinbaseMidstate = extranonce1.withUnsafeBytes { SHA256Midstate(absorbing: job.coinbase1, $0) }
        extranonce2 = [UInt8](repeating: 0, count: extranonce2Size)
        coinbase2 = job.coinbase2
        jobVersion = job.version
        nbits = job.nbits
        ntime = job.ntime
        quotedJobID = Array(Sv1JSON.quote(job.jobID).utf8)
        nonce = 0
        hasJob = true
    }

    private func startMiningIfReady() {
        guard canSubmit, miningSince == 0 else { return }
        miningSince = worker.loop.now
        if worker.configuration.sharesPerSecond == 0 && !worker.configuration.idle {
            submit(worker.configuration.sharesInFlight)
        }
    }

    /// Submits up to `count` shares (closed loop).
    private func submit(_ count: Int) {
        for _ in 0..<count {
            guard worker.isSubmitting, nextShare() else { return }
        }
    }

    // MARK: Shares

    /// Finds the next share, writes its `mining.submit` and records its send time; false when there is no work or
    /// the connection is gone.
    func nextShare() -> Bool {
        guard canSubmit, let connection, let target, let coinbaseMidstate else { return false }
        extranonce2Counter &+= 1
        let counter = extranonce2Counter
        let size = extranonce2Size
        extranonce2.withUnsafeMutableBytes { buffer in
            for index in 0..<size { buffer[index] = index < 8 ? UInt8(truncatingIfNeeded: counter >> UInt64(8 * index)) : 0 }
        }
        let txid = extranonce2.withUnsafeBytes { rolled in
            coinbase2.withUnsafeBytes { suffix in coinbaseMidstate.finishDouble(rolled, suffix) }
        }
        let root = MerkleRoot.compute(coinbaseTxid: txid, path: branch)
        var bits: UInt32?
        var version = jobVersion
        if versionMask != 0 {
            rollCounter &+= 1
            let rolled = (rollCounter << UInt32(versionMask.trailingZeroBitCount)) & versionMask
            bits = rolled
            version = (jobVersion & ~versionMask) | rolled
        }
        var header = BlockHeader(
            version: version, prevHash: prevHash, merkleRoot: root, ntime: ntime, nbits: nbits, nonce: nonce)
        // Search like a miner would; at the tiny difficulty a load test runs at, the first nonce or so qualifies.
        var attempts = 0
        while !target.isMet(by: header.hash) {
            header.nonce &+= 1
            attempts += 1
            if attempts == 1 << 16 { break }  // a hard target: submit anyway, the endpoint will reject it
        }
        nonce = header.nonce &+ 1
        let sequence = clock.send(at: LatencyClock.now())
        sharesSent += 1
        worker.counters.sharesSent += 1
        writeSubmit(
            on: connection, id: Self.shareIDBase + Int64(sequence), extranonce2Size: size, nonce: header.nonce,
            versionBits: bits)
        return true
    }

    /// Encodes `{"id":…,"method":"mining.submit","params":[worker,job,extranonce2,ntime,nonce[,version]]}\n` into
    /// the connection's write buffer.
    private func writeSubmit(
        on connection: Connection, id: Int64, extranonce2Size size: Int, nonce: UInt32, versionBits: UInt32?
    ) {
        let capacity = quotedUser.count + quotedJobID.count + 2 * size + 128
        _ = connection.withWritableBuffer(minimumCapacity: capacity) { buffer in
            var writer = ASCIILineWriter(buffer: buffer)
            writer.append(#"{"id":"#)
            writer.appendDecimal(UInt64(id))
            writer.append(#","method":"mining.submit","params":["#)
            writer.append(quotedUser)
            writer.append(",")
            writer.append(quotedJobID)
            writer.append(",\"")
            extranonce2.withUnsafeBytes { writer.appendHex($0) }
            writer.append("\",\"")
            writer.appendHex(ntime)
            writer.append("\",\"")
            writer.appendHex(nonce)
            writer.append("\"")
            if let versionBits {
                writer.append(",\"")
                writer.appendHex(versionBits)
                writer.append("\"")
            }
            writer.append("]}\n")
            return writer.count
        }
    }
}
