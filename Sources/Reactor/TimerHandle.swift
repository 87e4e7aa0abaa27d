/// Identifies a timer scheduled with ``EventLoop/schedule(after:_:)``; pass it to ``EventLoop/cancel(_:)``.
///
/// Handles are generation-checked, so a stale handle (fired or cancelled timer whose slot was reused)
/// never cancels someone else's timer.
public struct TimerHandle: Sendable, Hashable {
    let index: UInt32
    let generation: UInt32
}
