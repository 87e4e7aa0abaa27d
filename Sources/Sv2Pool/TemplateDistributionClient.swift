public import Sv2Codec
public import Sv2Service
import Sv2Mining

/// The Template Distribution client handler of a pool: the pool's sibling that talks to the template source.
///
/// On setup it sends `CoinbaseOutputConstraints` (room for the pool's payout output); every `NewTemplate` and
/// `SetNewPrevHash` is handed to the ``Pool``. Found blocks travel the other way: ``PoolService`` sets
/// ``Pool/onSolution`` to send `SubmitSolution` through this client's connection.
public struct TemplateDistributionClient: Sv2TemplateDistributionClientHandler {
    /// The pool fed with templates.
    public let pool: Pool
    /// Maximum additional sigops announced in `CoinbaseOutputConstraints`.
    public var coinbaseOutputMaxAdditionalSigops: UInt16
    /// Also handed every template, chain tip and link change after ``pool`` took it: a ``PoolCluster`` fans them out
    /// to the pools of its other loops. Loop thread.
    var feed: ((TemplateFeedEvent) -> Void)?

    /// Creates the handler feeding `pool`.
    public init(pool: Pool, coinbaseOutputMaxAdditionalSigops: UInt16 = 400) {
        self.pool = pool
        self.coinbaseOutputMaxAdditionalSigops = coinbaseOutputMaxAdditionalSigops
    }

    /// Announces the space the pool's outputs need; the template provider answers with its current template.
    public mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        pool.logger.info("template source connected")
        pool.templateSourceConnected()
        feed?(.connected)
        try context.send(CoinbaseOutputConstraints(
            coinbaseOutputMaxAdditionalSize: pool.configuration.coinbaseOutputMaxAdditionalSize,
            coinbaseOutputMaxAdditionalSigops: coinbaseOutputMaxAdditionalSigops))
    }

    /// The template source is gone (closed, or silent past the inactivity timeout): the pool hands out no new work
    /// until a source sends a chain tip again; shares on the jobs already out are still validated.
    public mutating func connectionDidClose(_ connectionID: Sv2ConnectionID, reason: Sv2CloseReason) {
        pool.logger.warning("template source disconnected: \(reason)")
        pool.templateSourceLost()
        feed?(.lost)
    }

    /// Feeds a template to the pool; an unusable one is logged and skipped (the connection stays up).
    public mutating func handle(_ message: NewTemplateView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let template = BlockTemplate(message)
        do { try pool.receive(template: template) } catch {
            pool.logger.error("\(error)")
        }
        feed?(.template(template))
    }

    /// Feeds a chain tip to the pool.
    public mutating func handle(_ message: TemplateSetNewPrevHashView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        let tip = TemplateChainTip(message)
        do { try pool.receive(chainTip: tip) } catch {
            pool.logger.error("\(error)")
        }
        feed?(.chainTip(tip))
    }

    /// Handed to the pool: a found block's own request completes the block in the journal; any other answer goes
    /// to ``Pool/onTransactionData`` (a Job Declaration client declaring full templates, a JD server's mempool
    /// view), ignored when that is unset.
    public mutating func handle(_ message: RequestTransactionDataSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        pool.receiveTransactionData(
            templateID: message.templateID, transactions: message.transactionList.map { Array($0) },
            excessData: Array(message.excessData))
    }

    /// Handed to the pool as a refusal (logged: a found block's request as a warning naming the block).
    public mutating func handle(_ message: RequestTransactionDataErrorView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        pool.receiveTransactionData(
            templateID: message.templateID, transactions: nil, excessData: [],
            errorCode: String(decoding: message.errorCode, as: UTF8.self))
    }
}
