/// Why a load test could not run.
public enum LoadTestError: Error, Equatable, CustomStringConvertible {
    /// A setting is out of range or inconsistent.
    case invalidConfiguration(String)
    /// The event loops or threads could not be started.
    case startFailed(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let what): "invalid load test configuration: \(what)"
        case .startFailed(let what): "load test could not start: \(what)"
        }
    }
}
