public import Sv2Codec
public import Sv2Service
import Glibc
import Reactor
public import Sv2Bitcoin
import Sv2Mining

/// A Template Distribution server over an ``EmbeddedTemplateSource``: the network side of the built-in regtest
/// template generator, so a pool runs with nothing else installed. Run it on the same loop as the pool.
///
/// - `CoinbaseOutputConstraints` → the current template (`NewTemplate`, future) and the tip that activates it.
/// - `SubmitSolution` → the header is rebuilt from the coinbase (witness stripped for the txid) and the
///   template's merkle path; if it meets the target the chain advances and every client gets the next template
///   and `SetNewPrevHash`.
/// - Every ``Configuration/refreshInterval`` a fresh non-future template for the same tip goes to all clients, so
///   jobs change even when no block is found.
/// - `RequestTransactionData` → the template's fake transactions.
public struct EmbeddedTemplateProvider: Sv2TemplateDistributionServerHandler {
    /// Knobs of the embedded provider.
    public struct Configuration: Sendable, Hashable {
        /// The template generator's settings (difficulty, fake transactions, …).
        public var source: EmbeddedTemplateSource.Configuration
        /// How often a fresh template for the current tip is sent (`nil`: only on new blocks).
        public var refreshInterval: Duration?
        /// Height of the first block to mine.
        public var startHeight: UInt32
        /// Previous hash of the first block (regtest genesis by default).
        public var genesisHash: Hash256

        /// Creates a configuration (regtest-like defaults, a fresh template every 30 seconds).
        public init(
            source: EmbeddedTemplateSource.Configuration = .init(), refreshInterval: Duration? = .seconds(30),
            startHeight: UInt32 = 1,
            genesisHash: Hash256 = Hash256(
                displayHex: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")!
        ) {
            self.source = source
            self.refreshInterval = refreshInterval
            self.startHeight = startHeight
            self.genesisHash = genesisHash
        }
    }

    /// A block the provider accepted.
    public struct AcceptedBlock: Sendable, Hashable {
        /// Its height.
        public var height: UInt32
        /// Its header.
        public var header: BlockHeader
        /// Its hash.
        public var hash: Hash256
        /// The submitted coinbase (with witness).
        public var coinbaseTransaction: [UInt8]
    }

    /// The provider's state, shared by the handler and the application (loop thread only).
    public final class State {
        /// The configuration in use.
        public let configuration: Configuration
        /// The template generator (current template and chain tip).
        public private(set) var source: EmbeddedTemplateSource
        /// Blocks accepted so far, oldest first.
        public private(set) var acceptedBlocks: [AcceptedBlock] = []
        /// `SubmitSolution`s that did not make a valid block.
        public private(set) var rejectedSolutions = 0
        /// Called for every accepted block.
        public var onBlockAccepted: ((AcceptedBlock) -> Void)?
        private var templates: [UInt64: (template: BlockTemplate, transactions: [[UInt8]])] = [:]
        private var connections: Sv2ServerConnections?
        private var refreshTimer: TimerHandle?

        init(configuration: Configuration) {
            self.configuration = configuration
            source = EmbeddedTemplateSource(
                configuration: configuration.source, height: configuration.startHeight,
                prevHash: configuration.genesisHash, now: State.now())
            remember()
        }

        deinit {
            // Whoever holds the provider last releases it, on any thread; the timer wheel is loop-thread state.
            guard let refreshTimer, let loop = connections?.eventLoop else { return }
            if loop.inLoop { loop.cancel(refreshTimer) } else { loop.execute { [weak loop] in loop?.cancel(refreshTimer) } }
        }

        static func now() -> UInt32 { UInt32(truncatingIfNeeded: time(nil)) }

        private func remember() {
            templates[source.template.templateID] = (source.template, source.transactions)
        }

        /// Broadcasts through `connections` and starts the periodic refresh. Idempotent.
        public func attach(to connections: Sv2ServerConnections) {
            guard self.connections !== connections else { return }
            stopRefreshing()
            self.connections = connections
            scheduleRefresh()
        }

        /// Stops the periodic refresh.
        public func stopRefreshing() {
            if let refreshTimer, let connections { connections.eventLoop.cancel(refreshTimer) }
            refreshTimer = nil
        }

        private func scheduleRefresh() {
            guard let connections, let interval = configuration.refreshInterval else { return }
            refreshTimer = connections.eventLoop.schedule(after: interval) { [weak self] in
                guard let self else { return }
                self.refresh()
                self.scheduleRefresh()
            }
        }

        /// Makes a fresh non-future template for the current tip and sends it to every client.
        public func refresh() {
            let template = source.refresh()
            remember()
            connections?.broadcast(template.message, to: .templateDistribution)
        }

        /// The messages a newly set-up client gets: the current template (as a future one) and its tip.
        func initialMessages() -> (NewTemplate, TemplateSetNewPrevHash) {
            var template = source.template
            template.futureTemplate = true
            var tip = source.chainTip
            tip.templateID = template.templateID
            return (template.message, tip.message)
        }

        /// Checks a solution; on success advances the chain and announces the next block's template.
        func submit(_ solution: SubmitSolutionView) -> Result<AcceptedBlock, SolutionError> {
            guard let (template, _) = templates[solution.templateID] else {
                return .failure(.unknownTemplate(solution.templateID))
            }
            let transaction = Array(solution.coinbaseTx)
            guard let legacy = TransactionSerialization.withoutWitness(transaction) else {
                return .failure(.malformedCoinbase)
            }
            let root = MerkleRoot.compute(coinbaseTxid: SHA256d.hash(legacy), path: template.merklePath)
            let header = BlockHeader(
                version: solution.version, prevHash: source.chainTip.prevHash, merkleRoot: root,
                ntime: solution.headerTimestamp, nbits: source.chainTip.nbits, nonce: solution.headerNonce)
            let height = source.height
            let next: (template: BlockTemplate, chainTip: TemplateChainTip)
            do { next = try source.submit(header, now: State.now()) } catch { return .failure(.block(error)) }
            let block = AcceptedBlock(height: height, header: header, hash: header.hash, coinbaseTransaction: transaction)
            acceptedBlocks.append(block)
            templates = [:]
            remember()
            connections?.broadcast(next.template.message, to: .templateDistribution)
            connections?.broadcast(next.chainTip.message, to: .templateDistribution)
            onBlockAccepted?(block)
            return .success(block)
        }

        func rejected() { rejectedSolutions += 1 }

        func transactions(of templateID: UInt64) -> [[UInt8]]? { templates[templateID]?.transactions }
    }

    /// Why a `SubmitSolution` was not accepted.
    public enum SolutionError: Error, Hashable, Sendable {
        /// The template id is not one of the current tip's.
        case unknownTemplate(UInt64)
        /// The coinbase transaction does not parse.
        case malformedCoinbase
        /// The block does not extend the tip or lacks work.
        case block(EmbeddedTemplateSource.BlockError)
    }

    /// The shared state.
    public let state: State

    /// Creates a provider with its own generator.
    public init(configuration: Configuration = Configuration()) {
        state = State(configuration: configuration)
    }

    /// Starts broadcasting through this server's connections.
    public mutating func connectionDidSetUp(context: Sv2ServerContext) throws(Sv2ServiceError) {
        state.attach(to: context.connections)
    }

    /// Answers with the current template and chain tip.
    public mutating func handle(_ message: CoinbaseOutputConstraintsView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        let (template, tip) = state.initialMessages()
        try context.send(template)
        try context.send(tip)
    }

    /// Returns the fake transactions of a current template.
    public mutating func handle(_ message: RequestTransactionDataView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        guard let transactions = state.transactions(of: message.templateID) else {
            return try context.send(RequestTransactionDataError(
                templateID: message.templateID, errorCode: "template-id-not-found"))
        }
        try context.send(RequestTransactionDataSuccess(
            templateID: message.templateID, excessData: [], transactionList: transactions))
    }

    /// Validates a found block; invalid ones are logged and counted (the connection stays up).
    public mutating func handle(_ message: SubmitSolutionView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        switch state.submit(message) {
        case .success(let block):
            context.connections.logger.notice("embedded template source: block \(block.height) accepted: \(block.hash)")
        case .failure(let error):
            state.rejected()
            context.connections.logger.warning("embedded template source: solution rejected: \(error)")
        }
    }
}
