public import Reactor
public import Sv2Codec

/// What a server handler gets with each message: who sent it and how to answer.
///
/// Valid only during the handler call it was given to: it refers to the connection without retaining it (no
/// reference counting per frame). Keep ``connectionID`` and use the server's ``Sv2ServerConnections`` to reach
/// the client later. A context used after its call returned is caught before it touches anything: ``send(_:)``
/// traps in debug builds and throws ``Sv2ServiceError/contextExpired`` in release builds; the other members trap
/// (they cannot throw).
///
/// Messages sent through it are encoded — and encrypted — straight into that connection's write buffer and leave
/// with the loop's next flush; several replies to one message go out together.
public struct Sv2ServerContext {
    private unowned(unsafe) let link: Sv2Link
    private unowned(unsafe) let liveConnections: Sv2ServerConnections
    private let call: Sv2HandlerCalls.Token

    init(link: Sv2Link, connections: Sv2ServerConnections, call: Sv2HandlerCalls.Call) {
        self.link = link
        liveConnections = connections
        self.call = connections.handlerCalls.token(call)
    }

    private static let expiredMessage: StaticString = """
        Sv2ServerContext used after the handler call it was given to returned: a context is valid only during that \
        call (keep its connectionID and use the server's connections to reach the client later)
        """

    /// The link, once the call is known to be running (members that cannot throw trap otherwise).
    private var checkedLink: Sv2Link {
        @inline(__always) get {
            guard call.isCurrent else { call.trap(Self.expiredMessage) }
            return link
        }
    }

    /// All connections of the server, for messages to other clients (keep this object, not the context).
    public var connections: Sv2ServerConnections {
        guard call.isCurrent else { call.trap(Self.expiredMessage) }
        return liveConnections
    }
    /// The connection the message came from.
    public var connectionID: Sv2ConnectionID { checkedLink.id }
    /// The subprotocol the connection was set up for.
    public var sv2Protocol: Sv2Protocol? { checkedLink.sv2Protocol }
    /// The flags the client requested in SetupConnection.
    public var setupFlags: UInt32 { checkedLink.setupFlags }
    /// The client's address.
    public var remoteAddress: SocketAddress { checkedLink.connection.remoteAddress }
    /// The event loop (for timers, or to reach sibling services).
    public var eventLoop: EventLoop { connections.eventLoop }
    /// Channels this connection owns.
    public var channels: Set<UInt32> { checkedLink.channels }

    /// Sends `message` to the client the current message came from.
    ///
    /// `OpenStandardMiningChannel.Success` / `OpenExtendedMiningChannel.Success` register the channel as owned by
    /// this connection (so its shares are accepted and channel broadcasts reach it); `SetGroupChannel` registers the
    /// group id the same way (so the client may close the group); `CloseChannel` unregisters a channel, or a group
    /// and all its members.
    public func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        guard call.isCurrent else { throw call.expired(Self.expiredMessage) }
        try liveConnections.send(message, on: link)
    }
}
