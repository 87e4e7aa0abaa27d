public import Reactor
public import Sv2Codec

/// What a client handler gets with each message: how to answer the server.
///
/// Valid only during the handler call (no reference counting per frame). Messages sent through it are encoded —
/// and encrypted — straight into the connection's write buffer.
public struct Sv2ClientContext {
    unowned(unsafe) let link: Sv2Link
    unowned(unsafe) let statisticsOwner: Sv2ClientCore

    init(link: Sv2Link, core: Sv2ClientCore) {
        self.link = link
        statisticsOwner = core
    }

    /// The connection to the server.
    public var connectionID: Sv2ConnectionID { link.id }
    /// Flags of the server's `SetupConnection.Success`.
    public var serverFlags: UInt32 { link.setupFlags }
    /// The event loop (for timers, or to reach sibling services).
    public var eventLoop: EventLoop { statisticsOwner.eventLoop }

    /// Sends `message` to the server.
    public func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        try link.send(message)
        statisticsOwner.statistics.framesOut += 1
    }
}
