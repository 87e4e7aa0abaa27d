import Dispatch
import Foundation
public import Reactor

/// Runs an `EventLoop` on its own thread for one test, with the few ways a test thread talks to it. Shared by the
/// service and mining test targets (the reactor's own tests keep a lower-level runner of their own).
public final class LoopRunner: @unchecked Sendable {
    /// The loop under test.
    public let loop: EventLoop
    /// What `run()` threw, if it did (read after `stop`).
    public private(set) var runError: ReactorError?
    private let finished = DispatchSemaphore(value: 0)

    /// Starts a loop on `backend` (`nil`: the default, io_uring where the kernel allows it).
    public init(_ backend: ReactorBackend? = nil, configure: (inout EventLoopConfiguration) -> Void = { _ in }) throws {
        var configuration = EventLoopConfiguration(backend: backend)
        configure(&configuration)
        loop = try EventLoop(configuration: configuration)
        let thread = Thread { [self] in
            do throws(ReactorError) { try loop.run() } catch { runError = error }
            finished.signal()
        }
        thread.start()
    }

    /// Runs `body` on the loop thread and waits for its result.
    public func sync<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = Box<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let body = body
        loop.execute {
            box.value = Result { try body() }
            done.signal()
        }
        done.wait()
        return try box.value!.get()
    }

    /// Parks the loop thread and runs `body` on the calling thread, so `#expect` inside is attributed to the running
    /// test. Only for reading state (and plain mutations of test objects): nothing that starts I/O.
    public func inspect<T>(_ body: () throws -> T) rethrows -> T {
        let parked = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        loop.execute { [loop] in
            loop.parkThread {
                parked.signal()
                resume.wait()
            }
        }
        parked.wait()
        defer { resume.signal() }
        return try body()
    }

    /// Polls `condition` on the loop thread until it holds or `timeout` seconds pass.
    public func wait(timeout: Double = 20, _ condition: @escaping () -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try sync(condition) { return true }
            usleep(5_000)
        }
        return false
    }

    /// Stops the loop gracefully (pending writes get `grace` to flush) and waits up to `seconds` for its thread to
    /// finish; returns whether it did.
    @discardableResult
    public func stop(grace: Duration = .milliseconds(500), wait seconds: Double = 5) -> Bool {
        let loop = self.loop
        loop.execute { loop.stop(gracePeriod: grace) }
        return finished.wait(timeout: .now() + seconds) == .success
    }
}

/// A reference cell for state shared between the test thread and the loop thread (tests synchronise by `sync`).
public final class Box<T>: @unchecked Sendable {
    /// The value.
    public var value: T
    /// Wraps `value`.
    public init(_ value: T) { self.value = value }
}
