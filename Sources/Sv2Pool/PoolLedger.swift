/// Where a ``Pool`` records its accounting windows (see ``Pool/ledger``): implemented by a database writer (e.g.
/// `Sv2Accounting.ShareLedger`) so that the pool itself stays free of any database library.
///
/// Called on the pool's loop thread, once per window (never per share). An implementation must not block: it
/// queues the window for a writer thread of its own and reports commits through the handler.
public protocol PoolLedger: AnyObject {
    /// Queues a closed window; `false` when the queue is full (backpressure: the pool keeps the window open and
    /// answers new shares `accounting-backlog` until a commit makes room). Must not block.
    func record(_ window: ShareWindow) -> Bool

    /// Sets the handler the writer calls, from its own thread, after windows up to and including `sequence`
    /// were committed durably (in order). The pool installs one that hops to its loop with `execute`.
    func setCommitHandler(_ handler: @escaping @Sendable (_ sequence: UInt64) -> Void)

    /// Blocks the caller until windows up to `sequence` are committed or `timeout` passed; `true` if committed.
    /// Used once, at shutdown, so the last acknowledgements can be sent before connections close.
    func waitUntilCommitted(_ sequence: UInt64, timeout: Duration) -> Bool
}
