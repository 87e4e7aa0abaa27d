extension Connection {
    /// Where a connection is in its life. One value instead of a state plus flags: each phase carries exactly the
    /// data it needs (the connect completion only while connecting, the flush deadline only while closing, the
    /// reason only once closed), so no combination of flags can contradict another.
    enum Lifecycle {
        /// A non-blocking connect is in progress; `completion` runs once with the outcome.
        case connecting(completion: ((Result<Connection, ReactorError>) -> Void)?, timer: TimerHandle?)
        /// Reading and writing.
        case open(WriteShutdown)
        /// Flushing pending writes before the socket is closed (``Connection/close()``, or the peer's FIN);
        /// `reason` is `.peerClosed` when the peer closed first, `timer` the flush deadline.
        case closing(reason: CloseReason?, timer: TimerHandle?)
        /// The socket is closed (or handed to the backend to close); `didCloseWith` carries `reason`.
        case closed(CloseReason)

        var isOpen: Bool { if case .open = self { true } else { false } }
        var isConnecting: Bool { if case .connecting = self { true } else { false } }
        var isClosed: Bool { if case .closed = self { true } else { false } }
        /// Open or closing: the socket is still ours and pending writes still go out.
        var isFlushing: Bool {
            switch self {
            case .open, .closing: true
            case .connecting, .closed: false
            }
        }
    }

    /// ``Connection/shutdownWrite()``'s progress (only meaningful while open).
    enum WriteShutdown {
        case none
        /// FIN goes out once the write buffer is drained; no more writes are accepted.
        case requested
        case done
    }

    /// Why reading is paused (see ``EventLoop/pauseReading(_:)``); reading runs while neither holds.
    struct ReadPause: OptionSet {
        let rawValue: UInt8
        /// ``EventLoop/pauseReading(_:)`` on this connection.
        static let connection = ReadPause(rawValue: 1)
        /// ``EventLoop/pauseReadingAll()``.
        static let loop = ReadPause(rawValue: 2)
    }
}
