/// How a `CPUMiner` hashes.
public struct CPUMinerConfiguration: Sendable, Hashable {
    /// Worker threads (each hashes its own nonce range).
    public var workerCount: Int
    /// Nonces a worker scans per header before rolling the version (then the extranonce); `nil` splits the whole
    /// 2^32 nonce space between the workers. Small values exercise rolling in tests.
    public var nonceSpan: UInt32?
    /// Nonces hashed between two checks for new work: bounds how long a worker keeps hashing stale work
    /// (16384 nonces take a few milliseconds).
    public var chunkSize: UInt32
    /// Found shares waiting for the event loop at most; beyond that a new share only replaces a worse waiting one
    /// (``CPUMiner/droppedShares``). At a very easy target workers find shares faster than a busy loop takes them, and
    /// the queue would grow without bound.
    /// Blocks have a separate quota of the same size, so they are never dropped for ordinary shares.
    public var maxQueuedShares: Int

    /// Creates a configuration.
    public init(workerCount: Int = 1, nonceSpan: UInt32? = nil, chunkSize: UInt32 = 16_384, maxQueuedShares: Int = 4096) {
        self.workerCount = workerCount
        self.nonceSpan = nonceSpan
        self.chunkSize = chunkSize
        self.maxQueuedShares = maxQueuedShares
    }

    /// Checks the values are usable.
    public func validate() throws(CPUMinerError) {
        guard (1...1024).contains(workerCount) else { throw .invalidConfiguration("workerCount must be within 1...1024") }
        guard chunkSize > 0 else { throw .invalidConfiguration("chunkSize must be positive") }
        guard maxQueuedShares > 0 else { throw .invalidConfiguration("maxQueuedShares must be positive") }
        if let nonceSpan, nonceSpan == 0 { throw .invalidConfiguration("nonceSpan must be positive") }
    }
}

/// Why a `CPUMiner` could not start.
public enum CPUMinerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A configuration value is out of range.
    case invalidConfiguration(String)
    /// `pthread_create` failed with this error number.
    case threadCreationFailed(errno: Int32)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid CPU miner configuration: \(reason)"
        case .threadCreationFailed(let errno): "could not create a worker thread (errno \(errno))"
        }
    }
}
