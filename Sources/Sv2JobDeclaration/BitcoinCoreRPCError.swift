public import Reactor

/// Why a Bitcoin Core JSON-RPC call failed. Every case names the RPC method; none carries a credential.
public enum BitcoinCoreRPCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The node could not be reached (resolution, connection refused or timed out): it is down or misconfigured.
    case unreachable(method: String, ReactorError)
    /// No complete answer within the request timeout (seconds).
    case timedOut(method: String, seconds: Double)
    /// The connection closed before a complete answer.
    case connectionClosed(method: String)
    /// HTTP 401/403: wrong user, password or cookie (or an address bitcoind's `rpcallowip` refuses).
    case unauthorized(method: String, status: Int)
    /// The credentials could not be read (cookie file missing or malformed). The contents are never included.
    case credentials(method: String, reason: String)
    /// An HTTP status the node does not send with a JSON-RPC answer.
    case httpStatus(method: String, status: Int)
    /// The answer is larger than `maximumResponseBytes`.
    case responseTooLarge(method: String, limit: Int)
    /// The answer is not a JSON-RPC answer (bad HTTP, bad JSON, wrong shape); `reason` says what.
    case malformedResponse(method: String, reason: String)
    /// The node answered with a JSON-RPC error object (e.g. -5 "No such mempool or blockchain transaction").
    case rpc(method: String, code: Int, message: String)
    /// More requests than `maximumQueuedRequests` wait already: refused without being sent.
    case queueFull(method: String, limit: Int)
    /// The client was stopped.
    case stopped(method: String)

    /// The RPC method the failure belongs to.
    public var method: String {
        switch self {
        case .unreachable(let method, _), .timedOut(let method, _), .connectionClosed(let method),
            .unauthorized(let method, _), .credentials(let method, _), .httpStatus(let method, _),
            .responseTooLarge(let method, _), .malformedResponse(let method, _), .rpc(let method, _, _),
            .queueFull(let method, _), .stopped(let method):
            method
        }
    }

    /// bitcoind's JSON-RPC error code while it starts (`RPC_IN_WARMUP`: "Loading block index…", "Verifying
    /// blocks…", "Loading wallet…"): it answers every call with it until it is ready.
    public static let warmupCode = -28

    /// Whether this is bitcoind's answer while it is still starting (``warmupCode``).
    public var isWarmup: Bool {
        if case .rpc(_, Self.warmupCode, _) = self { true } else { false }
    }

    /// Whether trying again later may succeed: the node was not reached, did not answer in full, or is still
    /// starting (error -28, ``isWarmup``: a node started together with the pool answers it for tens of seconds or
    /// minutes, and a block must wait for it rather than be counted refused). Any other answer the node gave (an
    /// RPC error about the call, a refusal of the credentials, a malformed or oversized answer) is not retried.
    public var isTransient: Bool {
        switch self {
        case .unreachable, .timedOut, .connectionClosed, .queueFull: true
        case .httpStatus(_, let status): status >= 500
        case .rpc: isWarmup
        case .unauthorized, .credentials, .responseTooLarge, .malformedResponse, .stopped: false
        }
    }

    /// A short stable name per case, for counters.
    public var name: String {
        switch self {
        case .unreachable: "unreachable"
        case .timedOut: "timed-out"
        case .connectionClosed: "connection-closed"
        case .unauthorized: "unauthorized"
        case .credentials: "credentials"
        case .httpStatus: "http-status"
        case .responseTooLarge: "response-too-large"
        case .malformedResponse: "malformed-response"
        case .rpc: "rpc-error"
        case .queueFull: "queue-full"
        case .stopped: "stopped"
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let method, let error): "bitcoind RPC \(method): unreachable: \(error)"
        case .timedOut(let method, let seconds): "bitcoind RPC \(method): no complete answer within \(seconds) s"
        case .connectionClosed(let method): "bitcoind RPC \(method): connection closed before a complete answer"
        case .unauthorized(let method, let status):
            "bitcoind RPC \(method): HTTP \(status): credentials refused (check --rpc-cookie or --rpc-user and its password file, and rpcallowip)"
        case .credentials(let method, let reason): "bitcoind RPC \(method): credentials: \(reason)"
        case .httpStatus(let method, let status): "bitcoind RPC \(method): HTTP status \(status)"
        case .responseTooLarge(let method, let limit): "bitcoind RPC \(method): answer larger than \(limit) bytes"
        case .malformedResponse(let method, let reason): "bitcoind RPC \(method): malformed answer: \(reason)"
        case .rpc(let method, let code, let message): "bitcoind RPC \(method): error \(code): \(message)"
        case .queueFull(let method, let limit): "bitcoind RPC \(method): more than \(limit) requests waiting"
        case .stopped(let method): "bitcoind RPC \(method): client stopped"
        }
    }
}
