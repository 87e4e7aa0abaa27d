import Foundation
import Reactor
import Testing

/// `nameCurrentThread` names the kernel thread (what `top -H` and Benchmarks/multicore.sh read), cut to 15 bytes.
@Suite struct ThreadNameTests {
    /// The calling thread's name as the kernel reports it.
    private static func kernelName() -> String {
        (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
            .trimmingCharacters(in: .newlines) ?? "<unreadable>"
    }

    /// Runs `body` on a fresh thread and returns what it returns (bounded wait: the thread does no I/O).
    private static func onNewThread(_ body: @escaping @Sendable () -> String) -> String? {
        let done = DispatchSemaphore(value: 0)
        let result = LockedBox<String?>(nil)
        Thread {
            result.set(body())
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + 30) == .success else { return nil }
        return result.get()
    }

    @Test func aThreadNamesItself() {
        let name = Self.onNewThread {
            nameCurrentThread("sv2-loop-7")
            return Self.kernelName()
        }
        #expect(name == "sv2-loop-7")
    }

    @Test func longNamesAreCutToTheKernelLimit() {
        let name = Self.onNewThread {
            nameCurrentThread("sv2-accounting-postgres")
            return Self.kernelName()
        }
        #expect(name == "sv2-accounting-")
    }
}

/// A value shared between two threads under a lock.
private final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
