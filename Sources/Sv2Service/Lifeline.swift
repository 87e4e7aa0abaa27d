/// A connection handler's reference to the server or client that owns it: unretained, with a flag the owner clears
/// in its `deinit`.
///
/// An owner released without `stop()` must not be touched when the loop later delivers to or closes its sockets, so
/// handlers can hold it neither strongly (that would also keep it alive) nor unsafely. A `weak` reference did the job
/// but cost every read a `swift_weakLoadStrong` plus a retain and release through the owner's side table (the
/// runtime's slow path): the side-table refcounting on the share path that issue 16 rules out. Owner and handlers
/// live on one loop thread, and the owner is loop-bound (its `deinit` runs there, before its memory is freed), so
/// the flag needs no atomics. `withOwner` lends the owner without retaining it.
final class Lifeline<Owner: AnyObject> {
    private let owner: Unmanaged<Owner>
    /// False once the owner's `deinit` ran.
    var isAlive = true

    init(_ owner: Owner) { self.owner = Unmanaged.passUnretained(owner) }

    /// Runs `body` with the owner if it is still alive (no retain, no release); nil once it is gone.
    @inline(__always)
    func withOwner<R>(_ body: (Owner) -> R) -> R? {
        guard isAlive else { return nil }
        return owner._withUnsafeGuaranteedRef(body)
    }
}
