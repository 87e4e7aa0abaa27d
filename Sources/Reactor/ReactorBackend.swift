import Glibc

/// The kernel interface an ``EventLoop`` drives its sockets with.
public enum ReactorBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// io_uring (multishot accept, multishot recv into a provided-buffer ring, batched sends).
    case ioUring = "io_uring"
    /// epoll, edge-triggered, non-blocking sockets.
    case epoll

    /// The backend named by the `SV2_REACTOR_BACKEND` environment variable (`epoll` or `io_uring`), if any.
    public static var environmentOverride: ReactorBackend? {
        guard let raw = getenv("SV2_REACTOR_BACKEND") else { return nil }
        switch String(cString: raw).lowercased() {
        case "epoll": return .epoll
        case "io_uring", "iouring", "uring": return .ioUring
        default: return nil
        }
    }

    /// The backend's name as accepted by `SV2_REACTOR_BACKEND`.
    public var description: String { rawValue }
}
