public import Sv2Codec

/// What a service needs from the handler of one subprotocol, on either side: whether it is supported, the
/// connection hooks and the dispatch of one received message.
///
/// You do not conform to it directly: conform to the generated protocol of your subprotocol and side (e.g.
/// ``Sv2MiningServerHandler``), which fixes `Context` and provides `dispatch`. It exists so a service routes a
/// message to the right handler in one place (`Sv2Handlers`) for servers and clients alike.
public protocol Sv2SubprotocolHandler {
    /// What each call gets to reply through: ``Sv2ServerContext`` or ``Sv2ClientContext``.
    associatedtype Context
    /// `false` for the Null handler: the subprotocol is not supported and SetupConnection for it is refused.
    var isSupported: Bool { get }
    /// Called once a connection's `SetupConnection` for this subprotocol succeeded.
    mutating func connectionDidSetUp(context: Context) throws(Sv2ServiceError)
    /// Called when a set-up connection closed (for any reason); free its state here.
    mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason)
    /// Decodes one message of this subprotocol and calls the matching `handle` overload. Generated for every
    /// handler protocol; implement the `handle` overloads, not this.
    mutating func dispatch(
        _ type: Sv2MessageType, payload: Sv2Bytes, context: Context
    ) throws(Sv2ServiceError)
}

extension Sv2SubprotocolHandler {
    /// Supported unless overridden.
    public var isSupported: Bool { true }
    /// Does nothing unless overridden.
    public mutating func connectionDidSetUp(context: Context) throws(Sv2ServiceError) {}
    /// Does nothing unless overridden.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {}
}
