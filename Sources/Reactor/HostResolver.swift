import Glibc
import Synchronization

/// Resolves host names with `getaddrinfo` on one background thread, so name resolution never blocks an event loop.
///
/// Numeric addresses are answered without the thread. Results come back on the requesting loop through
/// ``EventLoop/execute(_:)``. The queue is bounded: a request made while ``maximumPending`` are waiting fails at
/// once (a resolver that hangs must not turn reconnect attempts into unbounded memory).
public final class HostResolver: Sendable {
    /// The process-wide resolver.
    public static let shared = HostResolver()

    /// Requests waiting for (or in) resolution at most.
    public let maximumPending: Int

    private struct Request: Sendable {
        let endpoint: Endpoint
        let loop: EventLoop
        let completion: @Sendable (Result<[SocketAddress], ReactorError>) -> Void
    }

    private struct Queue {
        var requests: [Request] = []
        var threadStarted = false
    }

    private let queue = Mutex(Queue())
    private let wakeUp = Semaphore()

    /// Creates a resolver (its thread starts with the first name to resolve).
    public init(maximumPending: Int = 256) {
        self.maximumPending = Swift.max(1, maximumPending)
    }

    /// Resolves `endpoint` to its addresses (IPv4 and IPv6, in `getaddrinfo`'s preference order); `completion`
    /// runs on `loop`'s thread, never inside this call. Call from `loop`'s thread (the completion is not
    /// `Sendable`: it belongs to that loop).
    public func resolve(
        _ endpoint: Endpoint, on loop: EventLoop,
        completion loopCompletion: @escaping (Result<[SocketAddress], ReactorError>) -> Void
    ) {
        loop.assertInLoop()
        let box = LoopBound(loopCompletion, on: loop)
        let completion: @Sendable (Result<[SocketAddress], ReactorError>) -> Void = { box.value($0) }
        if let address = endpoint.numericAddress {
            loop.execute { completion(.success([address])) }
            return
        }
        let accepted = queue.withLock { state -> (accepted: Bool, startThread: Bool) in
            guard state.requests.count < maximumPending else { return (false, false) }
            state.requests.append(Request(endpoint: endpoint, loop: loop, completion: completion))
            let start = !state.threadStarted
            state.threadStarted = true
            return (true, start)
        }
        guard accepted.accepted else {
            loop.execute {
                completion(.failure(ReactorError(.system, errno: EAGAIN, context: "resolve \(endpoint): resolver queue full")))
            }
            return
        }
        if accepted.startThread, !startThread() {
            // No thread, no resolution: fail what is queued rather than leaving it waiting forever.
            let stranded = queue.withLock { state in
                state.threadStarted = false
                defer { state.requests.removeAll() }
                return state.requests
            }
            for request in stranded {
                request.loop.execute {
                    request.completion(.failure(ReactorError(.system, errno: EAGAIN, context: "resolve \(request.endpoint): no resolver thread")))
                }
            }
            return
        }
        wakeUp.signal()
    }

    private func startThread() -> Bool {
        let thread = ResolverThread { [self] in
            while true {
                wakeUp.wait()
                guard let request = queue.withLock({ $0.requests.isEmpty ? nil : $0.requests.removeFirst() }) else {
                    continue
                }
                let result = Self.lookUp(request.endpoint)
                request.loop.execute { request.completion(result) }
            }
        }
        return thread.start()
    }

    /// Blocking `getaddrinfo` for the TCP addresses of `endpoint` (at most 16, duplicates removed). Never call it
    /// on an event loop: that is what ``resolve(_:on:completion:)`` is for.
    public static func lookUp(_ endpoint: Endpoint) -> Result<[SocketAddress], ReactorError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = String(cString: gai_strerror(status))
            return .failure(ReactorError(.invalidAddress, context: "resolve \(endpoint): \(reason)"))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor, addresses.count < 16 {
            if let raw = entry.pointee.ai_addr, Int(entry.pointee.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(entry.pointee.ai_addrlen)))
                }
                if let address = SocketAddress(storage: &storage), !addresses.contains(address) {
                    addresses.append(address)
                }
            }
            cursor = entry.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            return .failure(ReactorError(.invalidAddress, context: "resolve \(endpoint): no TCP address"))
        }
        return .success(addresses)
    }
}

/// A counting semaphore over a mutex-protected count and a futex-free condition (pthread).
private final class Semaphore: @unchecked Sendable {
    private var count = 0
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func signal() {
        pthread_mutex_lock(&mutex)
        count += 1
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func wait() {
        pthread_mutex_lock(&mutex)
        while count == 0 { pthread_cond_wait(&condition, &mutex) }
        count -= 1
        pthread_mutex_unlock(&mutex)
    }
}

/// A detached pthread running `body` (the resolver lives as long as the process).
private final class ResolverThread: @unchecked Sendable {
    private let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }

    func start() -> Bool {
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<ResolverThread>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, unmanaged.toOpaque())
        guard status == 0 else {
            unmanaged.release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
