import Glibc

/// A joinable POSIX thread running one closure. The miner's workers use it instead of Foundation's `Thread`
/// so the module does not need Foundation.
final class WorkerThread: @unchecked Sendable {
    // Written once in `init` before any other thread can see `self`, read only by `join()`.
    private var thread = pthread_t()
    private var joined = false

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts a thread running `body`; fails only if the system cannot create a thread.
    init(_ body: @escaping @Sendable () -> Void) throws(CPUMinerError) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw .threadCreationFailed(errno: result)
        }
    }

    /// Waits for the thread to finish (once).
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }
}
