public import Reactor
public import Sv2Codec

/// What a client handler gets with each message: how to answer the server.
///
/// Valid only during the handler call it was given to (it does not retain the connection: no reference counting
/// per frame); keep the client to reach the server later. A context used after its call returned is caught before
/// it touches anything: ``send(_:)`` traps in debug builds and throws ``Sv2ServiceError/contextExpired`` in release
/// builds; the other members trap (they cannot throw).
///
/// Messages sent through it are encoded — and encrypted — straight into the connection's write buffer.
public struct Sv2ClientContext {
    private unowned(unsafe) let link: Sv2Link
    private unowned(unsafe) let statisticsOwner: Sv2ClientCore
    private let call: Sv2HandlerCalls.Token

    init(link: Sv2Link, core: Sv2ClientCore, call: Sv2HandlerCalls.Call) {
        self.link = link
        statisticsOwner = core
        self.call = core.handlerCalls.token(call)
    }

    private static let expiredMessage: StaticString = """
        Sv2ClientContext used after the handler call it was given to returned: a context is valid only during that \
        call (keep the client to reach the server later)
        """

    /// The link, once the call is known to be running (members that cannot throw trap otherwise).
    private var checkedLink: Sv2Link {
        @inline(__always) get {
            guard call.isCurrent else { call.trap(Self.expiredMessage) }
            return link
        }
    }

    /// The connection to the server.
    public var connectionID: Sv2ConnectionID { checkedLink.id }
    /// Flags of the server's `SetupConnection.Success`.
    public var serverFlags: UInt32 { checkedLink.setupFlags }
    /// The event loop (for timers, or to reach sibling services).
    public var eventLoop: EventLoop {
        guard call.isCurrent else { call.trap(Self.expiredMessage) }
        return statisticsOwner.eventLoop
    }

    /// Sends `message` to the server.
    public func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        guard call.isCurrent else { throw call.expired(Self.expiredMessage) }
        try link.send(message)
        statisticsOwner.statistics.framesOut += 1
    }
}
