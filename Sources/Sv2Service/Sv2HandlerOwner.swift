public import Logging
public import Reactor

/// A service that holds the three subprotocol handlers inline: ``Sv2Server`` and ``Sv2Client``. What is the same for
/// both is written once here: the properties that reach each handler, and the initialisers for one subprotocol,
/// which pass this side's Null handlers for the other two.
///
/// You do not conform to it: it exists so a server and a client forward to their handlers the same way.
public protocol Sv2HandlerOwner: AnyObject {
    /// The Mining handler (a Null handler when the service does not speak Mining).
    associatedtype Mining: Sv2SubprotocolHandler
    /// The Job Declaration handler (a Null handler when the service does not speak Job Declaration).
    associatedtype JobDeclaration: Sv2SubprotocolHandler where JobDeclaration.Context == Mining.Context
    /// The Template Distribution handler (a Null handler when the service does not speak Template Distribution).
    associatedtype TemplateDistribution: Sv2SubprotocolHandler where TemplateDistribution.Context == Mining.Context
    /// What the service is created with: ``Sv2ServerConfiguration`` or ``Sv2ClientConfiguration``.
    associatedtype Configuration
    /// This side's Null Mining handler.
    associatedtype NullMining: Sv2NullHandler
    /// This side's Null Job Declaration handler.
    associatedtype NullJobDeclaration: Sv2NullHandler
    /// This side's Null Template Distribution handler.
    associatedtype NullTemplateDistribution: Sv2NullHandler

    /// The label of the logger a service gets when none is given.
    static var defaultLoggerLabel: String { get }

    /// The three handlers, stored inline; reach them through ``mining``, ``jobDeclaration`` and
    /// ``templateDistribution``.
    var handlers: Sv2Handlers<Mining, JobDeclaration, TemplateDistribution> { get set }

    /// Creates the service with its three handlers (Null for a subprotocol it does not speak).
    init(
        configuration: Configuration, eventLoop: EventLoop, mining: Mining, jobDeclaration: JobDeclaration,
        templateDistribution: TemplateDistribution, logger: Logger
    ) throws(Sv2ServiceError)
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
