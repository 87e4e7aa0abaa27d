public import Sv2Mining

/// Why the pool could not be set up or could not use a template.
public enum PoolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A ``PoolConfiguration`` value is unusable.
    case invalidConfiguration(String)
    /// The coinbase for a template could not be built (e.g. its scriptSig prefix is too long).
    case coinbase(templateID: UInt64, CoinbaseError)
    /// A `SetNewPrevHash` named a template the pool never received.
    case unknownTemplate(UInt64)

    public var description: String {
        switch self {
        case .invalidConfiguration(let text): "invalid pool configuration: \(text)"
        case .coinbase(let id, let error): "template \(id): cannot build the coinbase: \(error)"
        case .unknownTemplate(let id): "SetNewPrevHash for unknown template \(id)"
        }
    }
}
