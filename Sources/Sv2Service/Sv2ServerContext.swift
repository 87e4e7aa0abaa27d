public import Reactor
public import Sv2Codec

/// What a server handler gets with each message: who sent it and how to answer.
///
/// Valid only during the handler call (it does not retain the connection: no reference counting per frame).
/// Messages sent through it are encoded — and encrypted — straight into that connection's write buffer and leave
/// with the loop's next flush; several replies to one message go out together.
public struct Sv2ServerContext {
    unowned(unsafe) let link: Sv2Link
    /// All connections of the server, for messages to other clients.
    public unowned(unsafe) let connections: Sv2ServerConnections

    init(link: Sv2Link, connections: Sv2ServerConnections) {
        self.link = link
        self.connections = connections
    }

    /// The connection the message came from.
    public var connectionID: Sv2ConnectionID { link.id }
    /// The subprotocol the connection was set up for.
    public var sv2Protocol: Sv2Protocol? { link.sv2Protocol }
    /// The flags the client requested in SetupConnection.
    public var setupFlags: UInt32 { link.setupFlags }
    /// The client's address.
    public var remoteAddress: SocketAddress { link.connection.remoteAddress }
    /// The event loop (for timers, or to reach sibling services).
    public var eventLoop: EventLoop { connections.eventLoop }
    /// Channels this connection owns.
    public var channels: Set<UInt32> { link.channels }

    /// Sends `message` to the client the current message came from.
    ///
    /// `OpenStandardMiningChannel.Success` / `OpenExtendedMiningChannel.Success` register the channel as owned by
    /// this connection (so its shares are accepted and channel broadcasts reach it); `SetGroupChannel` registers the
    /// group id the same way (so the client may close the group); `CloseChannel` unregisters a channel, or a group
    /// and all its members.
    public func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        try connections.send(message, on: link)
    }
}
