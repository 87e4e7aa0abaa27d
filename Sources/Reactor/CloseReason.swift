import Glibc

/// Why a ``Connection`` was closed.
public enum CloseReason: Sendable, Equatable {
    /// ``Connection/close()`` or ``Connection/abort()`` was called, or the loop stopped.
    case closedLocally
    /// The peer closed its side (EOF) in an orderly way.
    case peerClosed
    /// The peer reset the connection (`ECONNRESET`/`EPIPE`).
    case reset
    /// The handler left more unconsumed bytes than `maxReadBufferSize`.
    case readBufferOverflow
    /// Pending writes exceeded `maxWriteBufferSize` (the peer reads too slowly).
    case writeBufferOverflow
    /// A deadline passed (flush on close, or connect timeout).
    case timedOut
    /// Any other socket error, with its `errno`.
    case error(Int32)

    static func fromErrno(_ e: Int32) -> CloseReason {
        switch e {
        case ECONNRESET, EPIPE: return .reset
        case ETIMEDOUT: return .timedOut
        default: return .error(e)
        }
    }
}
