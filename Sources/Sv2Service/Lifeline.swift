/// A connection handler's reference to the server or client that owns it: unretained, with a flag the owner clears
/// in its `deinit`.
///
/// An owner released without `stop()` must not be touched when the loop later delivers to or closes its sockets, so
/// handlers can hold it neither strongly (that would also keep it alive) nor unsafely. A `weak` reference did the job
/// but cost every read a `swift_weakLoadStrong` plus a retain and release through the owner's side table (the
/// runtime's slow path): the side-table refcounting on the share path that issue 16 rules out. Owner and handlers
/// live on one loop thread, and the owner is loop-bound (its `deinit` runs there, before its memory is freed), so
/// the flag needs no atomics. The owner's own timers and callbacks capture the lifeline too, not a weak `self`:
/// one weak reference anywhere gives the owner a side table, and then every retain of it is a slow one.
final class Lifeline<Owner: AnyObject> {
    private let owner: Unmanaged<Owner>
    /// False once the owner's `deinit` ran.
    var isAlive = true

    init(_ owner: Owner) { self.owner = Unmanaged.passUnretained(owner) }

    /// Runs `body` with the owner if it is still alive; nil once it is gone.
    ///
    /// The owner is retained for the call (one plain retain and release, the runtime's fast path as long as nothing
    /// holds the owner weakly): a handler may drop the owner's last other reference while it runs — a pool shutting
    /// its server down from a message — and the owner must outlive the call that is still inside it.
    @inline(__always)
    func withOwner<R>(_ body: (Owner) -> R) -> R? {
        guard isAlive else { return nil }
        let owner = owner.takeUnretainedValue()
        return withExtendedLifetime(owner) { body(owner) }
    }
}

/// A server's handshake worker delivers through the server's lifeline (nothing once the server is gone).
extension Lifeline: HandshakeAnswerSink where Owner: HandshakeAnswerSink {
    func handshakesAnswered(_ answers: [HandshakeWorker.Answer]) {
        _ = withOwner { $0.handshakesAnswered(answers) }
    }
}
