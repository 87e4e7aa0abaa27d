import Sv2Codec

/// The three subprotocol handlers of a server or a client, stored inline, and the one place that picks the handler
/// of the subprotocol a connection was set up for (``Sv2Server`` and ``Sv2Client`` both route through it).
///
/// Generic over the concrete handlers, so routing a frame is a switch over three cases and a direct call: no
/// existential, no allocation, nothing reference counted.
public struct Sv2Handlers<
    Mining: Sv2SubprotocolHandler,
    JobDeclaration: Sv2SubprotocolHandler,
    TemplateDistribution: Sv2SubprotocolHandler
> where JobDeclaration.Context == Mining.Context, TemplateDistribution.Context == Mining.Context {
    typealias Context = Mining.Context

    // Usable from inline code: `Sv2HandlerOwner`'s forwarding properties are inlinable, so a caller in another
    // module reaches a handler without a call into this one.
    @usableFromInline var mining: Mining
    @usableFromInline var jobDeclaration: JobDeclaration
    @usableFromInline var templateDistribution: TemplateDistribution

    /// Whether the handler for `sv2Protocol` is a real one (not Null).
    func isSupported(_ sv2Protocol: Sv2Protocol) -> Bool {
        switch sv2Protocol {
        case .mining: mining.isSupported
        case .jobDeclaration: jobDeclaration.isSupported
        case .templateDistribution: templateDistribution.isSupported
        }
    }

    /// Whether any of the three is supported.
    var supportsAny: Bool { mining.isSupported || jobDeclaration.isSupported || templateDistribution.isSupported }

    mutating func connectionDidSetUp(_ sv2Protocol: Sv2Protocol, context: Context) throws(Sv2ServiceError) {
        switch sv2Protocol {
        case .mining: try mining.connectionDidSetUp(context: context)
        case .jobDeclaration: try jobDeclaration.connectionDidSetUp(context: context)
        case .templateDistribution: try templateDistribution.connectionDidSetUp(context: context)
        }
    }

    mutating func connectionDidClose(_ sv2Protocol: Sv2Protocol, _ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        switch sv2Protocol {
        case .mining: mining.connectionDidClose(connectionID, reason: reason)
        case .jobDeclaration: jobDeclaration.connectionDidClose(connectionID, reason: reason)
        case .templateDistribution: templateDistribution.connectionDidClose(connectionID, reason: reason)
        }
    }

    /// Hands one received message to the handler of `sv2Protocol` (the caller checked the type belongs to it).
    @inline(__always)
    mutating func dispatch(
        _ sv2Protocol: Sv2Protocol, _ type: Sv2MessageType, payload: Sv2Bytes, context: Context
    ) throws(Sv2ServiceError) {
        switch sv2Protocol {
        case .mining: try mining.dispatch(type, payload: payload, context: context)
        case .jobDeclaration: try jobDeclaration.dispatch(type, payload: payload, context: context)
        case .templateDistribution: try templateDistribution.dispatch(type, payload: payload, context: context)
        }
    }
}
