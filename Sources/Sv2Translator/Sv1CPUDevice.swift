public import Reactor
public import Sv1
public import Sv2Bitcoin

/// A CPU "Sv1 miner" that speaks real Stratum V1 (configure with BIP310 version rolling, subscribe, authorize,
/// submit with version bits), for tests and demos of the translator.
///
/// It builds everything from what the server sent, independently of the translator's own code paths:
/// coinbase `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`, merkle root up the branch, the header from the
/// notify's Sv1-order prevhash. Hashing happens only when asked (``mine(shares:maxHashes:)``, on the loop thread),
/// so a test decides how much work is done. Loop thread only.
public final class Sv1CPUDevice: ConnectionHandler {
    /// The loop the device runs on.
    public let eventLoop: EventLoop
    /// The worker name it authorizes and submits with.
    public let worker: String
    /// The version-rolling mask it asks for (`nil`: no `mining.configure`).
    public let requestedVersionMask: UInt32?
    /// A difficulty to suggest after subscribing (`nil`: none).
    public let suggestedDifficulty: Double?
    /// Whether it sends `mining.extranonce.subscribe` (then the translator keeps it through an upstream loss).
    public let subscribesToExtranonce: Bool

    /// Extranonce1 from `mining.subscribe`.
    public private(set) var extranonce1: [UInt8]?
    /// Extranonce2 size from `mining.subscribe`.
    public private(set) var extranonce2Size = 0
    /// The mask the server granted (0 until configured, or when refused).
    public private(set) var versionMask: UInt32 = 0
    /// Whether `mining.authorize` succeeded.
    public private(set) var authorized = false
    /// Every difficulty received, in order.
    public private(set) var difficulties: [Double] = []
    /// The job to mine (last notify).
    public private(set) var job: Sv1Notify?
    /// Notifies received.
    public private(set) var notifies = 0
    /// Shares submitted.
    public private(set) var submitted = 0
    /// Submits answered `true`.
    public private(set) var accepted = 0
    /// Submits answered with an error, by Sv1 code.
    public private(set) var rejected: [Int: Int] = [:]
    /// Error answers to anything but submits, in order (code, message).
    public private(set) var otherErrors: [(code: Int, message: String)] = []
    /// `mining.set_extranonce` pushes received.
    public private(set) var extranonceUpdates = 0
    /// `client.reconnect` pushes received.
    public private(set) var reconnects = 0
    /// Whether the connection closed.
    public private(set) var closed = false
    /// Distinct rolled version values submitted.
    public private(set) var rolledVersions: Set<UInt32> = []

    private var connection: Connection?
    private var nextID: Int64 = 1
    private var pendingSubmits: Set<Int64> = []
    private var configureID: Int64 = 0
    private var subscribeID: Int64 = 0
    private var authorizeID: Int64 = 0
    private var extranonce2Counter: UInt64 = 0
    private var nonce: UInt32 = 0
    private var rollCounter: UInt32 = 0
    private let splitter = Sv1LineSplitter(maxLineLength: 1 << 20)

    /// Creates a device; nothing happens until ``connect(to:)``.
    public init(
        eventLoop: EventLoop, worker: String, versionMask: UInt32? = 0x1fff_e000, suggestDifficulty: Double? = nil,
        subscribesToExtranonce: Bool = false
    ) {
        self.eventLoop = eventLoop
        self.worker = worker
        requestedVersionMask = versionMask
        suggestedDifficulty = suggestDifficulty
        self.subscribesToExtranonce = subscribesToExtranonce
    }

    /// Connects and runs the Sv1 handshake (configure, subscribe, authorize). Loop thread.
    public func connect(to address: SocketAddress) {
        eventLoop.connect(to: address, timeout: .seconds(10), handler: self) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let connection):
                self.connection = connection
                self.handshake()
            case .failure:
                self.closed = true
            }
        }
    }

    /// Whether the device has everything it needs to mine.
    public var isReady: Bool { extranonce1 != nil && authorized && job != nil && !difficulties.isEmpty }

    /// The target of the current difficulty.
    public var target: Target { difficulties.last.flatMap { Target(difficulty: $0) } ?? .max }

    /// Searches the current job for up to `shares` hashes meeting the difficulty and submits each; returns how
    /// many were submitted (fewer when `maxHashes` ran out or there is no job).
    @discardableResult
    public func mine(shares: Int, maxHashes: Int = 1 << 22) -> Int {
        guard let job, let extranonce1, let connection, connection.isOpen,
              let prevHash = Hash256(bytes: job.prevHash) else { return 0 }
        let goal = target
        var found = 0
        var hashes = 0
        while found < shares, hashes < maxHashes {
            extranonce2Counter &+= 1
            let extranonce2 = (0..<extranonce2Size).map {
                UInt8(truncatingIfNeeded: extranonce2Counter >> UInt64(8 * (($0) % 8)))
            }
            let txid = SHA256d.hash(job.coinbase1 + extranonce1 + extranonce2 + job.coinbase2)
            let root = MerkleRoot.compute(coinbaseTxid: txid, path: job.merkleBranch.compactMap { Hash256(bytes: $0) })
            var bits: UInt32?
            var version = job.version
            if versionMask != 0 {
                rollCounter &+= 1
                let rolled = (rollCounter << UInt32(versionMask.trailingZeroBitCount)) & versionMask
                bits = rolled
                version = (job.version & ~versionMask) | rolled
            }
            var header = BlockHeader(
                version: version, prevHash: prevHash, merkleRoot: root, ntime: job.ntime, nbits: job.nbits, nonce: 0)
            // A bounded nonce sweep per extranonce2; each share found moves on to the next extranonce2 and rolled
            // version, so shares differ in every field a device varies.
            for _ in 0..<4096 where hashes < maxHashes {
                header.nonce = nonce
                nonce &+= 1
                hashes += 1
                guard goal.isMet(by: header.hash) else { continue }
                let id = nextID
                nextID += 1
                pendingSubmits.insert(id)
                send(Sv1Line.submit(id: .number(id), Sv1Submit(
                    worker: worker, jobID: job.jobID, extranonce2: extranonce2, ntime: job.ntime, nonce: header.nonce,
                    versionBits: bits)))
                if let bits { rolledVersions.insert(bits) }
                submitted += 1
                found += 1
                break
            }
        }
        return found
    }

    /// Sends a raw line (tests of malformed input).
    public func sendRaw(_ text: String) { send(text) }

    /// Closes the connection.
    public func close() { connection?.close() }

    private func handshake() {
        if let mask = requestedVersionMask {
            configureID = nextID
            nextID += 1
            send(Sv1Line.configureVersionRolling(id: .number(configureID), mask: mask))
        }
        subscribeID = nextID
        nextID += 1
        send(Sv1Line.subscribe(id: .number(subscribeID), userAgent: "swift-stratum-cpu/1.0"))
        authorizeID = nextID
        nextID += 1
        send(Sv1Line.authorize(id: .number(authorizeID), user: worker, password: "x"))
        if subscribesToExtranonce {
            let id = nextID
            nextID += 1
            send(Sv1Line.request(id: .number(id), method: "mining.extranonce.subscribe", params: "[]"))
        }
        if let suggestedDifficulty {
            let id = nextID
            nextID += 1
            send(Sv1Line.request(
                id: .number(id), method: "mining.suggest_difficulty", params: "[\(Sv1JSON.number(suggestedDifficulty))]"))
        }
    }

    private func send(_ line: String) {
        var line = line
        line.withUTF8 { _ = connection?.write(UnsafeRawBufferPointer($0)) }
    }

    /// Reads the server's lines.
    public func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        do throws(Sv1ProtocolError) {
            return try splitter.split(UnsafeRawBufferPointer(bytes)) { line in
                if let message = try? Sv1ServerMessage(line: line) { handle(message) }
                return true
            }
        } catch {
            connection.abort()
            return bytes.count
        }
    }

    private func handle(_ message: Sv1ServerMessage) {
        switch message {
        case .setDifficulty(let difficulty): difficulties.append(difficulty)
        case .notify(let job):
            self.job = job
            notifies += 1
        case .setExtranonce(let extranonce1, let size):
            // Applies from the next notify on: the job in hand was built for the old extranonce1.
            self.extranonce1 = extranonce1
            extranonce2Size = size
            extranonceUpdates += 1
            job = nil
        case .reconnect: reconnects += 1
        case .other: break
        case .response(let id, let result):
            guard case .number(let number) = id else { return }
            if pendingSubmits.remove(number) != nil {
                switch result {
                case .accepted: accepted += 1
                case .error(let code, _): rejected[code, default: 0] += 1
                default: rejected[0, default: 0] += 1
                }
                return
            }
            switch result {
            case .configured(let mask) where number == configureID: versionMask = mask
            case .subscribed(let extranonce1, let size) where number == subscribeID:
                self.extranonce1 = extranonce1
                extranonce2Size = size
            case .accepted where number == authorizeID: authorized = true
            case .error(let code, let text): otherErrors.append((code, text))
            default: break
            }
        }
    }

    /// Marks the device closed.
    public func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        closed = true
        self.connection = nil
    }
}
