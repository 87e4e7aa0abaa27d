#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A connection handler's reference to the server or client that owns it: unretained, with a state the owner marks
/// from its `deinit`.
///
/// An owner released without `stop()` must not be touched when the loop later delivers to or closes its sockets, so
/// handlers can hold it neither strongly (that would also keep it alive) nor unsafely. A `weak` reference did the job
/// but cost every read a `swift_weakLoadStrong` plus a retain and release through the owner's side table (the
/// runtime's slow path): the side-table refcounting on the share path that issue 16 rules out. The owner's own
/// timers and callbacks capture the lifeline too, not a weak `self`: one weak reference anywhere gives the owner a
/// side table, and then every retain of it is a slow one.
///
/// Calls come from the loop thread, but the owner's last reference may be dropped on any thread (a test's locals, an
/// application that tears down after `stop()` without waiting for the loop). Its `deinit` may then begin while the
/// loop thread is inside a call into it: the loop checked the owner alive a moment before. A plain flag cannot close
/// that window (the first CI run of the flag version crashed in exactly it), so the state is atomic — a count of
/// calls running plus a `gone` bit — and a `deinit` on another thread waits for the running call to return before the
/// owner's memory goes. That costs each call two uncontended atomic operations, per read rather than per share.
final class Lifeline<Owner: AnyObject>: @unchecked Sendable {
    private let owner: Unmanaged<Owner>
    /// Calls running (`withOwner` is re-entrant) plus ``goneBit``.
    private let state = Atomic<UInt>(0)
    /// The thread of the latest call, so a `deinit` run by that very call's closing release does not wait for itself.
    private let callerThread = Atomic<UInt>(0)
    private static var goneBit: UInt { 1 << (UInt.bitWidth - 1) }

    init(_ owner: Owner) { self.owner = Unmanaged.passUnretained(owner) }

    /// False once the owner's `deinit` began.
    var isAlive: Bool { state.load(ordering: .acquiring) & Self.goneBit == 0 }

    /// Runs `body` with the owner if it is still alive; nil once it is gone.
    ///
    /// The owner is retained for the call (one plain retain and release, the runtime's fast path as long as nothing
    /// holds the owner weakly): a handler may drop the owner's last other reference while it runs — a pool shutting
    /// its server down from a message — and the owner must outlive the call that is still inside it. The release
    /// comes before the call count drops, so an owner whose `deinit` began on another thread stays in memory until
    /// the retain is undone.
    @inline(__always)
    func withOwner<R>(_ body: (Owner) -> R) -> R? {
        callerThread.store(Self.currentThread, ordering: .relaxed)
        var current = state.load(ordering: .relaxed)
        while true {
            guard current & Self.goneBit == 0 else { return nil }
            let (exchanged, found) = state.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = found
        }
        let owner = owner.retain()
        let result = body(owner.takeUnretainedValue())
        owner.release()
        state.subtract(1, ordering: .releasing)
        return result
    }

    /// Called first thing in the owner's `deinit`: later calls get nil, and a call running on another thread is
    /// waited for (the owner's memory must outlive it). A call on this thread is the one whose closing release ran
    /// this `deinit`; it touches nothing of the owner afterwards.
    func ownerDeinitialising() {
        let before = state.bitwiseOr(Self.goneBit, ordering: .acquiringAndReleasing).oldValue
        guard before & ~Self.goneBit != 0, callerThread.load(ordering: .relaxed) != Self.currentThread else { return }
        while state.load(ordering: .acquiring) & ~Self.goneBit != 0 { sched_yield() }
    }

    @inline(__always)
    private static var currentThread: UInt { UInt(pthread_self()) }
}

/// A server's handshake worker delivers through the server's lifeline (nothing once the server is gone).
extension Lifeline: HandshakeAnswerSink where Owner: HandshakeAnswerSink {
    func handshakesAnswered(_ answers: [HandshakeWorker.Answer]) {
        _ = withOwner { $0.handshakesAnswered(answers) }
    }
}
