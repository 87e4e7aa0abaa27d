public import Sv2Codec
public import Sv2Service

/// Where the pool writes its answers to the connection a message came from.
///
/// `Sv2ServerContext` is the sink in a running server; benchmarks and unit tests can pass their own (e.g. one
/// that encodes into a preallocated buffer). Generic, so the share path has no existential and no allocation.
public protocol PoolReplySink {
    /// Sends `message` to the peer.
    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError)
}

extension Sv2ServerContext: PoolReplySink {}
