import Foundation

/// The methods a Sv1 device calls, with their parameters.
public enum Sv1Method: Sendable, Hashable {
    /// `mining.subscribe([user_agent, [extranonce1]])`.
    case subscribe(userAgent: String?)
    /// `mining.authorize(user, password)`.
    case authorize(user: String, password: String)
    /// `mining.configure(extensions, parameters)` (BIP310).
    case configure(Sv1Configure)
    /// `mining.extranonce.subscribe()`: the device accepts `mining.set_extranonce`.
    case extranonceSubscribe
    /// `mining.suggest_difficulty(difficulty)`.
    case suggestDifficulty(Double)
    /// `mining.submit(worker, job_id, extranonce2, ntime, nonce[, version_bits])`.
    case submit(Sv1Submit)
    /// Any other method (answered with an error).
    case unknown(String)

    /// Reads `params` (already JSON-decoded) for the method `name`.
    init(name: String, params: [Any]) throws(Sv1ProtocolError) {
        switch name {
        case "mining.subscribe":
            self = .subscribe(userAgent: params.first as? String)
        case "mining.authorize":
            guard let user = params.first as? String else {
                throw .invalidParams(method: name, reason: "user is not a string")
            }
            self = .authorize(user: user, password: params.count > 1 ? (params[1] as? String ?? "") : "")
        case "mining.configure":
            self = .configure(try Sv1Configure(params: params))
        case "mining.extranonce.subscribe":
            self = .extranonceSubscribe
        case "mining.suggest_difficulty":
            guard let difficulty = Sv1Request.number(params.first), difficulty.isFinite, difficulty > 0 else {
                throw .invalidParams(method: name, reason: "difficulty is not a positive number")
            }
            self = .suggestDifficulty(difficulty)
        case "mining.submit":
            self = .submit(try Sv1Submit(params: params))
        default:
            self = .unknown(name)
        }
    }
}

/// `mining.configure`'s extensions (BIP310): which were requested and their parameters.
public struct Sv1Configure: Sendable, Hashable {
    /// Extension names as requested.
    public var extensions: [String]
    /// `version-rolling.mask` (the bits the device wants to roll), when version rolling was requested.
    public var versionRollingMask: UInt32?
    /// `version-rolling.min-bit-count`.
    public var versionRollingMinBitCount: Int?
    /// `minimum-difficulty.value`, when requested.
    public var minimumDifficulty: Double?

    /// Creates the request.
    public init(
        extensions: [String], versionRollingMask: UInt32? = nil, versionRollingMinBitCount: Int? = nil,
        minimumDifficulty: Double? = nil
    ) {
        self.extensions = extensions
        self.versionRollingMask = versionRollingMask
        self.versionRollingMinBitCount = versionRollingMinBitCount
        self.minimumDifficulty = minimumDifficulty
    }

    /// Most extensions a request may name (BIP310 defines four).
    public static let maximumExtensions = 16

    init(params: [Any]) throws(Sv1ProtocolError) {
        guard let names = params.first as? [Any], names.count <= Sv1Configure.maximumExtensions else {
            throw .invalidParams(method: "mining.configure", reason: "extensions are not a short list")
        }
        extensions = names.compactMap { $0 as? String }
        let options = params.count > 1 ? (params[1] as? [String: Any] ?? [:]) : [:]
        if extensions.contains("version-rolling") {
            // Firmware sends the mask as hex; BIP310 says so, a few send it as a number.
            if let text = options["version-rolling.mask"] as? String {
                guard let mask = UInt32(text, radix: 16) else {
                    throw .invalidParams(method: "mining.configure", reason: "version-rolling.mask is not hex")
                }
                versionRollingMask = mask
            } else if let number = Sv1Request.number(options["version-rolling.mask"]),
                      number >= 0, number <= Double(UInt32.max) {
                versionRollingMask = UInt32(number)
            } else {
                versionRollingMask = 0xffff_ffff  // BIP310: no mask means "any bit the server allows"
            }
            if let text = options["version-rolling.min-bit-count"] as? String {
                versionRollingMinBitCount = Int(text, radix: 16)
            } else if let number = Sv1Request.number(options["version-rolling.min-bit-count"]),
                      number >= 0, number <= 32 {
                versionRollingMinBitCount = Int(number)
            }
        }
        if extensions.contains("minimum-difficulty") {
            if let value = Sv1Request.number(options["minimum-difficulty.value"]), value.isFinite, value >= 0 {
                minimumDifficulty = value
            } else {
                throw .invalidParams(method: "mining.configure", reason: "minimum-difficulty.value is not a number")
            }
        }
    }
}

/// A `mining.submit`'s fields, decoded from hex.
public struct Sv1Submit: Sendable, Hashable {
    /// The worker name (as authorized).
    public var worker: String
    /// The job id as sent in `mining.notify`.
    public var jobID: String
    /// The device's extranonce2 bytes.
    public var extranonce2: [UInt8]
    /// Header time.
    public var ntime: UInt32
    /// Header nonce.
    public var nonce: UInt32
    /// BIP310 rolled version bits (only bits inside the negotiated mask may be set), when sent.
    public var versionBits: UInt32?

    /// Creates a submit.
    public init(
        worker: String, jobID: String, extranonce2: [UInt8], ntime: UInt32, nonce: UInt32, versionBits: UInt32? = nil
    ) {
        self.worker = worker
        self.jobID = jobID
        self.extranonce2 = extranonce2
        self.ntime = ntime
        self.nonce = nonce
        self.versionBits = versionBits
    }

    /// Longest extranonce2 accepted (the whole Sv2 extranonce is at most 32 bytes).
    public static let maximumExtranonce2Length = 32

    init(params: [Any]) throws(Sv1ProtocolError) {
        func fail(_ reason: String) -> Sv1ProtocolError { .invalidParams(method: "mining.submit", reason: reason) }
        guard (5...6).contains(params.count) else { throw fail("expected 5 or 6 params, got \(params.count)") }
        guard let worker = params[0] as? String else { throw fail("worker is not a string") }
        guard let jobID = params[1] as? String, jobID.utf8.count <= 64 else { throw fail("job id is not a short string") }
        guard let text = params[2] as? String, let extranonce2 = Sv1Hex.decode(text),
              extranonce2.count <= Sv1Submit.maximumExtranonce2Length
        else { throw fail("extranonce2 is not hex of at most 32 bytes") }
        guard let ntimeText = params[3] as? String, let ntime = Sv1Hex.decodeUInt32(ntimeText) else {
            throw fail("ntime is not 8 hex digits")
        }
        guard let nonceText = params[4] as? String, let nonce = Sv1Hex.decodeUInt32(nonceText) else {
            throw fail("nonce is not 8 hex digits")
        }
        var versionBits: UInt32?
        if params.count == 6 {
            guard let bitsText = params[5] as? String, let bits = Sv1Hex.decodeUInt32(bitsText) else {
                throw fail("version bits are not 8 hex digits")
            }
            versionBits = bits
        }
        self.init(
            worker: worker, jobID: jobID, extranonce2: extranonce2, ntime: ntime, nonce: nonce, versionBits: versionBits)
    }
}
