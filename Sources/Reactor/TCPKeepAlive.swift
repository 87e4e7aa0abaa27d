import CUring
import Glibc

/// TCP keepalive settings: how a connection with no traffic notices that its peer vanished (a host that died, a
/// NAT that dropped the mapping, a blackholed route) without waiting for the kernel's two-hour default.
///
/// A silent peer is declared dead after about `idle + interval × count`; the same bound applies to data the peer
/// does not acknowledge (`TCP_USER_TIMEOUT`).
public struct TCPKeepAlive: Sendable, Hashable {
    /// Seconds without traffic before the first probe.
    public var idle: Int32
    /// Seconds between probes.
    public var interval: Int32
    /// Unanswered probes before the connection is reset.
    public var count: Int32

    /// Creates settings; the defaults notice a dead peer in about 30 s.
    public init(idle: Int32 = 15, interval: Int32 = 5, count: Int32 = 3) {
        self.idle = idle
        self.interval = interval
        self.count = count
    }

    /// About how long a vanished peer goes unnoticed.
    public var detectionTime: Duration { .seconds(Int64(idle) + Int64(interval) * Int64(count)) }
}

extension Connection {
    /// Turns on TCP keepalive with `settings`. Loop thread only.
    public func setKeepAlive(_ settings: TCPKeepAlive) throws(ReactorError) {
        loop.assertInLoop()
        let result = withDescriptor {
            cshims_set_keepalive($0.rawValue, Swift.max(settings.idle, 1), Swift.max(settings.interval, 1),
                                 Swift.max(settings.count, 1))
        } ?? -EBADF
        if result != 0 { throw .system(-result, "setsockopt keepalive") }
    }
}
