/// Tunables for an ``EventLoop``. All sizes are in bytes.
public struct EventLoopConfiguration: Sendable {
    /// The backend to use; `nil` picks io_uring when the kernel allows it and falls back to epoll
    /// (logged once). The `SV2_REACTOR_BACKEND` environment variable overrides this value.
    public var backend: ReactorBackend?
    /// Capacity a connection's read buffer starts with when it first has to keep leftover bytes.
    public var initialReadBufferSize = 4096
    /// Most unconsumed bytes a connection may hold before it is closed with ``CloseReason/readBufferOverflow``.
    public var maxReadBufferSize = 1 << 20
    /// Most pending outgoing bytes before a connection is closed with ``CloseReason/writeBufferOverflow``.
    public var maxWriteBufferSize = 4 << 20
    /// Granularity of the timer wheel; timers never fire early and at most about one tick late.
    public var timerResolution: Duration = .milliseconds(10)
    /// Number of slots of the hashed timer wheel (rounded up to a power of two).
    public var timerWheelSlots = 1024
    /// How long ``Connection/close()`` may spend flushing pending writes before the socket is closed anyway.
    public var closeFlushTimeout: Duration = .seconds(2)
    /// Size of the loop-wide receive buffer (epoll) and of each provided buffer (io_uring).
    public var receiveChunkSize = 16 * 1024
    /// Number of provided receive buffers in the io_uring buffer ring (rounded up to a power of two).
    public var ioUringBufferCount = 512
    /// Submission queue entries of the io_uring instance.
    public var ioUringEntries = 4096
    /// A write buffer at least this full is sent immediately instead of at the end of the loop iteration.
    public var writeFlushThreshold = 64 * 1024

    /// Most tasks other threads may have waiting for the loop through ``EventLoop/tryExecute(_:)`` (``EventLoop/execute(_:)``
    /// is not bounded: it is for control messages). Producers refused at this bound back off.
    public var maxPendingTasks = 4096
    /// First pause of accepting after the process ran out of descriptors (EMFILE/ENFILE); doubles per failed retry.
    public var acceptBackoffInitial: Duration = .milliseconds(10)
    /// Longest pause of accepting while descriptors stay exhausted.
    public var acceptBackoffMaximum: Duration = .seconds(1)

    /// Creates a configuration with default values.
    public init(backend: ReactorBackend? = nil) {
        self.backend = backend
    }

    /// Checks that all values are usable.
    public func validate() throws(ReactorError) {
        func fail(_ what: String) -> ReactorError { ReactorError(.invalidConfiguration, context: what) }
        guard initialReadBufferSize > 0 else { throw fail("initialReadBufferSize must be > 0") }
        guard maxReadBufferSize >= initialReadBufferSize else {
            throw fail("maxReadBufferSize must be >= initialReadBufferSize")
        }
        guard maxWriteBufferSize > 0 else { throw fail("maxWriteBufferSize must be > 0") }
        guard timerResolution >= .microseconds(100) else { throw fail("timerResolution must be >= 100µs") }
        guard timerWheelSlots >= 16, timerWheelSlots <= 1 << 20 else { throw fail("timerWheelSlots out of range") }
        guard closeFlushTimeout >= .zero else { throw fail("closeFlushTimeout must be >= 0") }
        guard receiveChunkSize >= 512, receiveChunkSize <= 1 << 20 else { throw fail("receiveChunkSize out of range") }
        guard ioUringBufferCount >= 8, ioUringBufferCount <= 1 << 15 else {
            throw fail("ioUringBufferCount out of range (8...32768)")
        }
        guard ioUringEntries >= 64, ioUringEntries <= 32768 else { throw fail("ioUringEntries out of range") }
        guard writeFlushThreshold > 0 else { throw fail("writeFlushThreshold must be > 0") }
        guard maxPendingTasks > 0 else { throw fail("maxPendingTasks must be > 0") }
        guard acceptBackoffInitial > .zero, acceptBackoffMaximum >= acceptBackoffInitial else {
            throw fail("accept backoff must be positive, maximum >= initial")
        }
    }
}

extension Duration {
    /// Whole nanoseconds, clamped at zero.
    var nanoseconds: UInt64 {
        let (s, atto) = components
        if s < 0 { return 0 }
        return UInt64(s) &* 1_000_000_000 &+ UInt64(atto / 1_000_000_000)
    }
}
