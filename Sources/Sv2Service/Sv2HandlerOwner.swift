/// A service that holds the three subprotocol handlers inline: ``Sv2Server`` and ``Sv2Client``. The properties that
/// reach each handler are written once here, for both.
///
/// You do not conform to it: it exists so a server and a client forward to their handlers the same way.
public protocol Sv2HandlerOwner: AnyObject {
    /// The Mining handler (a Null handler when the service does not speak Mining).
    associatedtype Mining: Sv2SubprotocolHandler
    /// The Job Declaration handler (a Null handler when the service does not speak Job Declaration).
    associatedtype JobDeclaration: Sv2SubprotocolHandler where JobDeclaration.Context == Mining.Context
    /// The Template Distribution handler (a Null handler when the service does not speak Template Distribution).
    associatedtype TemplateDistribution: Sv2SubprotocolHandler where TemplateDistribution.Context == Mining.Context

    /// The three handlers, stored inline; reach them through ``mining``, ``jobDeclaration`` and
    /// ``templateDistribution``.
    var handlers: Sv2Handlers<Mining, JobDeclaration, TemplateDistribution> { get set }
}

extension Sv2HandlerOwner {
    /// Mining protocol handler.
    @inlinable
    public var mining: Mining {
        get { handlers.mining }
        _modify { yield &handlers.mining }
    }

    /// Job Declaration protocol handler.
    @inlinable
    public var jobDeclaration: JobDeclaration {
        get { handlers.jobDeclaration }
        _modify { yield &handlers.jobDeclaration }
    }

    /// Template Distribution protocol handler.
    @inlinable
    public var templateDistribution: TemplateDistribution {
        get { handlers.templateDistribution }
        _modify { yield &handlers.templateDistribution }
    }
}
