public import Sv2Bitcoin
public import Sv2Noise
public import Sv2Pool

/// A self-authenticating mining job token: what a Job Declaration server hands out (`AllocateMiningJobToken.Success`,
/// `DeclareMiningJob.Success`) so that a pool in another process, on another host, can check a `SetCustomMiningJob`
/// without asking the JD server: the pool knows the JD server's authority public key and verifies the signature,
/// the expiry, the user, what the token commits to, and that it was not used before
/// (``MiningJobTokenVerifier``).
///
/// Wire form (``encodedSize`` = 142 bytes, fits `B0_255`; integers little-endian):
/// ```
/// U8  version (1)   U8 kind (0 allocated, 1 declared)   U64 id   U32 expires (unix s)
/// 32  user commitment: SHA-256 of the user identifier, or 32 zero bytes (any user)
/// 32  job commitment: allocated → SHA-256 of the pool outputs handed out with it;
///                     declared  → SHA-256 of what the JD server checked of the declared job (below)
/// 64  BIP340 signature by the JD server's authority key of
///     SHA-256("swift-stratum/mining-job-token/1" ‖ the 78 bytes above)
/// ```
/// The declared job's commitment is
/// ``declaredCommitment(version:coinbaseTxVersion:scriptSigPrefix:sequence:outputs:locktime:)``. The tag keeps a token signature from ever passing for a Noise certificate signature of the same key (whose
/// message is the SHA-256 of 42 bytes without it) or the other way round.
public struct MiningJobToken: Sendable, Hashable {
    /// What the token vouches for.
    public enum Kind: UInt8, Sendable {
        /// From `AllocateMiningJobToken.Success` (coinbase-only mode): the holder may mine a job paying the pool's
        /// outputs; the pool checks the payout itself.
        case allocated = 0
        /// From `DeclareMiningJob.Success` (full-template mode): the JD server checked this declared job.
        case declared = 1
    }

    /// The format version written first.
    public static let formatVersion: UInt8 = 1
    /// Bytes on the wire.
    public static let encodedSize = 142
    static let bodySize = 78
    static let tag = Array("swift-stratum/mining-job-token/1".utf8)

    /// What the token vouches for.
    public var kind: Kind
    /// Unique per token of one JD server key (the replay set is keyed by it).
    public var id: UInt64
    /// Unix time (seconds) after which the token is refused.
    public var expires: UInt32
    /// SHA-256 of the user identifier the token was allocated to, or zeros (any user).
    public var userCommitment: [UInt8]
    /// The commitment to the job (see the type's documentation).
    public var jobCommitment: [UInt8]
    /// BIP340 signature (64 bytes).
    public var signature: [UInt8]

    /// Signs a new token with `key`.
    public static func sign(
        kind: Kind, id: UInt64, expires: UInt32, user: String, jobCommitment: [UInt8], key: AuthorityKeyPair
    ) throws(Sv2NoiseError) -> MiningJobToken {
        var token = MiningJobToken(
            kind: kind, id: id, expires: expires, userCommitment: userCommitment(user), jobCommitment: jobCommitment,
            signature: [])
        token.signature = try key.sign(digest: token.digest)
        return token
    }

    init(kind: Kind, id: UInt64, expires: UInt32, userCommitment: [UInt8], jobCommitment: [UInt8], signature: [UInt8]) {
        self.kind = kind
        self.id = id
        self.expires = expires
        self.userCommitment = userCommitment
        self.jobCommitment = jobCommitment
        self.signature = signature
    }

    /// Parses the wire form; ``JobDeclarationError/malformedToken`` for any other length, version or kind (an
    /// opaque token of another JD server implementation, or garbage).
    public init(parsing bytes: [UInt8]) throws(JobDeclarationError) {
        guard bytes.count == Self.encodedSize, bytes[0] == Self.formatVersion, let kind = Kind(rawValue: bytes[1]) else {
            throw .malformedToken
        }
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
            return value
        }
        self.kind = kind
        id = integer(2, UInt64.self)
        expires = integer(10, UInt32.self)
        userCommitment = Array(bytes[14..<46])
        jobCommitment = Array(bytes[46..<78])
        signature = Array(bytes[78..<142])
    }

    /// The 78 signed bytes.
    var body: [UInt8] {
        var out: [UInt8] = [Self.formatVersion, kind.rawValue]
        out.reserveCapacity(Self.encodedSize)
        withUnsafeBytes(of: id.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: expires.littleEndian) { out.append(contentsOf: $0) }
        out += userCommitment
        out += jobCommitment
        return out
    }

    /// The digest the signature is over.
    var digest: [UInt8] { AuthorityDigest.sha256(Self.tag + body) }

    /// The wire form.
    public var encoded: [UInt8] { body + signature }

    /// Whether the signature is `key`'s.
    public func isSigned(by key: AuthorityPublicKey) -> Bool {
        userCommitment.count == 32 && jobCommitment.count == 32 && key.isValidSignature(signature, digest: digest)
    }

    /// Whether a channel of `user` may use the token.
    public func isFor(user: String) -> Bool {
        userCommitment == Self.anyUser || userCommitment == Self.userCommitment(user)
    }

    static let anyUser = [UInt8](repeating: 0, count: 32)

    /// SHA-256 of the user identifier; zeros for the empty one (a token for any user, as the JD server treats an
    /// empty `user_identifier`).
    public static func userCommitment(_ user: String) -> [UInt8] {
        user.isEmpty ? anyUser : AuthorityDigest.sha256(Array(user.utf8))
    }

    /// The job commitment of an allocated token: SHA-256 of the pool outputs as sent (CompactSize-prefixed).
    public static func allocatedCommitment(outputs: [TxOutput]) -> [UInt8] {
        AuthorityDigest.sha256(serialize(outputs))
    }

    /// The job commitment of a declared job: SHA-256 of the header version, the coinbase's version, scriptSig
    /// bytes before the extranonce, input sequence, outputs (CompactSize-prefixed) and lock time — what the JD server
    /// checked and what the pool can recompute from `SetCustomMiningJob`.
    public static func declaredCommitment(
        version: UInt32, coinbaseTxVersion: UInt32, scriptSigPrefix: [UInt8], sequence: UInt32, outputs: [TxOutput],
        locktime: UInt32
    ) -> [UInt8] {
        var data = Array("declared-job".utf8)
        for value in [version, coinbaseTxVersion] { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        CompactSize.append(UInt64(scriptSigPrefix.count), to: &data)
        data += scriptSigPrefix
        withUnsafeBytes(of: sequence.littleEndian) { data.append(contentsOf: $0) }
        data += serialize(outputs)
        withUnsafeBytes(of: locktime.littleEndian) { data.append(contentsOf: $0) }
        return AuthorityDigest.sha256(data)
    }

    /// ``declaredCommitment(version:coinbaseTxVersion:scriptSigPrefix:sequence:outputs:locktime:)`` of a custom job.
    public static func declaredCommitment(of request: CustomMiningJobRequest) -> [UInt8] {
        declaredCommitment(
            version: request.version, coinbaseTxVersion: request.coinbaseTxVersion, scriptSigPrefix: request.coinbasePrefix,
            sequence: request.coinbaseTxInputSequence, outputs: request.coinbaseTxOutputs,
            locktime: request.coinbaseTxLocktime)
    }

    static func serialize(_ outputs: [TxOutput]) -> [UInt8] {
        var out: [UInt8] = []
        CompactSize.append(UInt64(outputs.count), to: &out)
        for output in outputs { output.serialize(into: &out) }
        return out
    }
}
