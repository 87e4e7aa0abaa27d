public import Sv2Codec
public import Sv2Service

/// The Job Declaration server handler: forwards every JDC message to its `JobDeclaratorServer`.
public struct JobDeclaratorServerHandler: Sv2JobDeclarationServerHandler {
    /// The state.
    public let server: JobDeclaratorServer

    /// Wraps `server`.
    public init(server: JobDeclaratorServer) { self.server = server }

    /// Forgets the connection's tokens and pending declarations.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        server.connectionDidClose(connectionID)
    }

    /// Hands out a token with the pool's coinbase outputs.
    public mutating func handle(_ message: AllocateMiningJobTokenView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try server.allocate(message, context: context)
    }

    /// Checks a declared job; asks for unknown transactions.
    public mutating func handle(_ message: DeclareMiningJobView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try server.declare(message, context: context)
    }

    /// Completes a declaration with the transactions the server lacked.
    public mutating func handle(
        _ message: ProvideMissingTransactionsSuccessView, context: Sv2ServerContext
    ) throws(Sv2ServiceError) {
        try server.provided(message, context: context)
    }

    /// Records a solution.
    public mutating func handle(_ message: PushSolutionView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        server.pushed(message, connection: context.connectionID)
    }
}
