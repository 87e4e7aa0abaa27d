import Dispatch
import Foundation
@testable import Sv2Service
import Synchronization
import Testing

/// `Lifeline` alone: an unretained owner reached through an atomic call count and `gone` bit (the servers and clients
/// use it in place of weak references; ReleasedServerTests covers them over the wire).
@Suite("Lifeline")
struct LifelineTests {
    /// An owner that marks its lifeline first thing in `deinit`, as `Sv2Server` and `Sv2Client` do.
    final class Owner: @unchecked Sendable {
        var value = 42
        var lifeline: Lifeline<Owner>?
        let deinits: Cell
        /// Runs at the start of `deinit`, before the lifeline hears of it: it holds open the window between the
        /// runtime beginning the deinit (the strong count reached zero) and the owner marking its lifeline.
        var deinitBegins: (@Sendable () -> Void)?

        init(deinits: Cell) { self.deinits = deinits }
        deinit {
            deinitBegins?()
            lifeline?.ownerDeinitialising()
            deinits.add(1)
        }
    }

    /// An integer two threads share.
    final class Cell: Sendable {
        private let atomic: Atomic<Int>
        init(_ value: Int = 0) { atomic = Atomic(value) }
        var value: Int { atomic.load(ordering: .sequentiallyConsistent) }
        func set(_ value: Int) { atomic.store(value, ordering: .sequentiallyConsistent) }
        func add(_ value: Int) { atomic.add(value, ordering: .sequentiallyConsistent) }
    }

    final class Counters: Sendable {
        let deinits = Cell()
    }

    final class Holder: @unchecked Sendable { var owner: Owner? }

    static func make(_ counters: Counters) -> (Holder, Lifeline<Owner>) {
        let holder = Holder()
        let owner = Owner(deinits: counters.deinits)
        let lifeline = Lifeline(owner)
        owner.lifeline = lifeline
        holder.owner = owner
        return (holder, lifeline)
    }

    /// Runs `body` on a thread of its own and waits for it, failing instead of hanging if it deadlocks.
    static func onAnotherThread(_ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.start()
        return done.wait(timeout: .now() + 20) == .success
    }

    @Test func aCallThatDropsTheLastReferenceKeepsTheOwnerUntilItReturnsWithoutWaitingForItself() throws {
        let counters = Counters()
        let (holder, lifeline) = Self.make(counters)
        let seen = Cell()
        let deinitsDuringCall = Cell(-1)
        let finished = Self.onAnotherThread {
            _ = lifeline.withOwner { owner in
                holder.owner = nil
                deinitsDuringCall.set(counters.deinits.value)
                seen.set(owner.value)
            }
        }
        #expect(finished, "the deinit run by the call's own release waited for that call (deadlock)")
        #expect(deinitsDuringCall.value == 0)
        #expect(seen.value == 42)
        #expect(counters.deinits.value == 1)
        #expect(!lifeline.isAlive)
        #expect(lifeline.withOwner { $0.value } == nil)
    }

    @Test func callsNestAndStillReachTheOwner() throws {
        let counters = Counters()
        let (holder, lifeline) = Self.make(counters)
        let inner = lifeline.withOwner { _ in lifeline.withOwner { $0.value } }
        #expect(inner == .some(.some(42)))
        holder.owner = nil
        #expect(counters.deinits.value == 1)
        #expect(lifeline.withOwner { $0.value } == nil)
    }

    /// The race the CI run of 2026-12-01 crashed in (with a plain alive flag): the last reference dropped on one
    /// thread, and the loop thread entering a call in the moment between the runtime starting the `deinit` and the
    /// owner marking its lifeline. The call still runs (it retained an owner being deinitialised, which the runtime
    /// allows as long as it is balanced), so the `deinit` must wait for it: the release may not return, and the
    /// owner's memory may not go, before the call did.
    @Test func anOwnerReleasedOnAnotherThreadMidCallWaitsForTheCall() throws {
        let counters = Counters()
        let (holder, lifeline) = Self.make(counters)
        let deinitBegan = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let releaseReturned = Cell()
        let sawGone = Cell()
        let releaseReturnedDuringCall = Cell(1)
        let valueAfter = Cell()
        let done = DispatchSemaphore(value: 0)
        holder.owner?.deinitBegins = {
            deinitBegan.signal()
            _ = entered.wait(timeout: .now() + 20)
        }
        let caller = Thread {
            _ = deinitBegan.wait(timeout: .now() + 20)
            _ = lifeline.withOwner { owner in
                entered.signal()
                // Wait (bounded) until the deinit marked the lifeline...
                let deadline = ContinuousClock.now + .seconds(20)
                while lifeline.isAlive, ContinuousClock.now < deadline { sched_yield() }
                sawGone.set(lifeline.isAlive ? 0 : 1)
                // ...then give a deinit that does not wait 200 ms to return first (a correct one cannot, so a busy
                // machine only weakens the check, never fails it).
                let linger = ContinuousClock.now + .milliseconds(200)
                while releaseReturned.value == 0, ContinuousClock.now < linger { sched_yield() }
                releaseReturnedDuringCall.set(releaseReturned.value)
                valueAfter.set(owner.value)
            }
            done.signal()
        }
        caller.start()
        holder.owner = nil
        releaseReturned.set(1)
        #expect(done.wait(timeout: .now() + 20) == .success)
        #expect(sawGone.value == 1, "the call never saw the deinit mark the lifeline")
        #expect(releaseReturnedDuringCall.value == 0, "the owner went while a call was inside it")
        #expect(valueAfter.value == 42)
        #expect(counters.deinits.value == 1)
        #expect(lifeline.withOwner { $0.value } == nil)
    }
}
