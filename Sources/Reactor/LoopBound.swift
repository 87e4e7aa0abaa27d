/// A value that belongs to one event loop's thread, carried across threads as an opaque token: created on the
/// loop, handed to other threads (which must not touch it), used again on the loop (through
/// ``EventLoop/execute(_:)``). Reading ``value`` checks the thread in debug builds (``EventLoop/assertInLoop()``),
/// which is what makes the `@unchecked Sendable` honest.
public final class LoopBound<Value>: @unchecked Sendable {
    /// The loop the value belongs to.
    public let eventLoop: EventLoop
    private let stored: Value

    /// Wraps `value`, which belongs to `eventLoop`'s thread.
    public init(_ value: Value, on eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        stored = value
    }

    /// The value. Loop-thread only (checked in debug builds).
    public var value: Value {
        eventLoop.assertInLoop()
        return stored
    }
}
