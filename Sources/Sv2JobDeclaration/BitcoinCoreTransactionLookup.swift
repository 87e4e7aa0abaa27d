public import Logging
public import Sv2Bitcoin

/// Finds transactions by wtxid in Bitcoin Core's mempool (what `DeclareMiningJob` names them by; the RPC knows
/// txids): first `getrawtransaction` with each wtxid as a txid (a transaction without witness has the same id),
/// then, for the rest, the mempool's wtxid → txid map (`getrawmempool true`) and `getrawtransaction` by txid.
/// Every transaction returned hashes to the wtxid it was asked for; what the node does not have (or an RPC
/// failure) is simply not returned, so the JD client is asked for it instead. Loop thread only.
public final class BitcoinCoreTransactionLookup {
    /// The node.
    public let rpc: BitcoinCoreRPCClient
    /// Transactions found so far.
    public private(set) var transactionsFound = 0
    /// Lookups an RPC failure cut short (logged).
    public private(set) var failures = 0
    /// Most wtxids one lookup asks for (the rest count as missing).
    public var maximumTransactions = 20_000
    /// Longest each of a lookup's requests may take: a declaration waits for its lookup, so a hung node must not
    /// hold it for the full request timeout (the JD client is asked instead).
    public var requestTimeout: Duration = .seconds(5)
    /// How long one `getrawmempool true` answer is reused: it is large (about 1 KB per mempool transaction), so
    /// declarations in quick succession share it; a wtxid not in a fresh map is asked of the JD client.
    public var mempoolMapLifetime: Duration = .seconds(5)
    /// Mempool maps fetched so far.
    public private(set) var mempoolMapsFetched = 0
    private var mempoolMap: (map: [Hash256: Hash256], fetched: UInt64)?
    private let logger: Logger

    /// A lookup through `rpc`.
    public init(rpc: BitcoinCoreRPCClient, logger: Logger = Logger(label: "stratum.jd-server.mempool")) {
        self.rpc = rpc
        self.logger = logger
    }

    /// Looks `wtxids` up; `completion` runs on the loop thread with the transactions found (any order).
    public func lookUp(_ wtxids: [Hash256], completion: @escaping ([[UInt8]]) -> Void) {
        let wanted = Array(Set(wtxids.prefix(maximumTransactions)))
        guard !wanted.isEmpty else { return completion([]) }
        rpc.getRawTransactions(txids: wanted, timeout: requestTimeout) { [weak self] first in
            guard let self else { return completion([]) }
            var found: [Hash256: [UInt8]] = [:]
            switch first {
            case .success(let byID):
                for (id, transaction) in byID where SHA256d.hash(transaction) == id { found[id] = transaction }
            case .failure(let error):
                self.failed(error)
                return completion([])
            }
            let rest = wanted.filter { found[$0] == nil }
            guard !rest.isEmpty else { return self.finish(found, completion) }
            self.mempoolMap { [weak self] mapped in
                guard let self else { return completion(Array(found.values)) }
                guard let map = mapped else { return self.finish(found, completion) }
                let txids = rest.compactMap { map[$0] }
                guard !txids.isEmpty else { return self.finish(found, completion) }
                self.rpc.getRawTransactions(txids: txids, timeout: self.requestTimeout) { [weak self] second in
                    guard let self else { return completion(Array(found.values)) }
                    switch second {
                    case .success(let byID):
                        for transaction in byID.values {
                            let wtxid = SHA256d.hash(transaction)
                            if map[wtxid] != nil { found[wtxid] = transaction }
                        }
                    case .failure(let error):
                        self.failed(error)
                    }
                    self.finish(found, completion)
                }
            }
        }
    }

    /// The mempool's wtxid → txid map: the cached one while fresh, else fetched (`nil` when that failed).
    private func mempoolMap(_ completion: @escaping ([Hash256: Hash256]?) -> Void) {
        let now = rpc.eventLoop.now
        let parts = mempoolMapLifetime.components
        let lifetime = UInt64(Swift.max(parts.seconds, 0)) &* 1_000_000_000 &+ UInt64(Swift.max(parts.attoseconds, 0) / 1_000_000_000)
        if let cached = mempoolMap, now &- cached.fetched < lifetime { return completion(cached.map) }
        rpc.getMempoolWtxids(timeout: requestTimeout) { [weak self] mapped in
            guard let self else { return completion(nil) }
            switch mapped {
            case .success(let map):
                self.mempoolMapsFetched += 1
                self.mempoolMap = (map, self.rpc.eventLoop.now)
                completion(map)
            case .failure(let error):
                self.failed(error)
                completion(nil)
            }
        }
    }

    private func finish(_ found: [Hash256: [UInt8]], _ completion: ([[UInt8]]) -> Void) {
        transactionsFound += found.count
        completion(Array(found.values))
    }

    private func failed(_ error: BitcoinCoreRPCError) {
        failures += 1
        logger.warning("mempool lookup failed (the JD client is asked instead): \(error)")
    }
}
