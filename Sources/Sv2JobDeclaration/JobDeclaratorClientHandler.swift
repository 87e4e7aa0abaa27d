public import Sv2Codec
public import Sv2Service

/// The Job Declaration client handler: forwards every JDS message to its `JobDeclaratorClient`.
public struct JobDeclaratorClientHandler: Sv2JobDeclarationClientHandler {
    /// The state.
    public let state: JobDeclaratorClient

    /// Wraps `state`.
    public init(state: JobDeclaratorClient) { self.state = state }

    /// Requests the first tokens.
    public mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try state.connectionDidSetUp(context: context)
    }

    /// Drops tokens; pending declarations become rejected.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        state.connectionDidClose()
    }

    /// A new token.
    public mutating func handle(_ message: AllocateMiningJobTokenSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.tokenAllocated(message)
    }

    /// Supplies the transactions the server lacks.
    public mutating func handle(_ message: ProvideMissingTransactionsView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        try state.provideMissing(message, context: context)
    }

    /// A declaration was accepted.
    public mutating func handle(_ message: DeclareMiningJobSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.answered(message.requestID, .accepted(token: Array(message.newMiningJobToken)))
    }

    /// A declaration was refused.
    public mutating func handle(_ message: DeclareMiningJobErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        state.answered(message.requestID, .rejected(code: String(decoding: message.errorCode, as: UTF8.self)))
    }
}
