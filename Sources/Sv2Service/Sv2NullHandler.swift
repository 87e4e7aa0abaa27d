/// A Null handler (``NullSv2MiningServerHandler``, ``NullSv2MiningClientHandler``…): the subprotocol is not
/// supported. Lets the one-subprotocol initialisers of ``Sv2HandlerOwner`` create this side's Null handlers.
public protocol Sv2NullHandler: Sv2SubprotocolHandler {
    /// Creates the Null handler.
    init()
}

extension NullSv2MiningServerHandler: Sv2NullHandler {}
extension NullSv2JobDeclarationServerHandler: Sv2NullHandler {}
extension NullSv2TemplateDistributionServerHandler: Sv2NullHandler {}
extension NullSv2MiningClientHandler: Sv2NullHandler {}
extension NullSv2JobDeclarationClientHandler: Sv2NullHandler {}
extension NullSv2TemplateDistributionClientHandler: Sv2NullHandler {}
