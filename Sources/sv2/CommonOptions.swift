import ArgumentParser
import Logging
import Reactor
import Sv2Noise
import Sv2Service

/// Options every app has.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .long, help: "TOML file with any of this command's options (keys = flag names without --).")
    var config: String?

    @Option(name: .long, help: "I/O backend: io_uring (default when the kernel allows it) or epoll.")
    var backend: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Stop after this many seconds (default: run until Ctrl-C).")
    var duration: Double?

    static let keys: Set<String> = ["backend", "log-level", "duration"]

    func reactorBackend(_ file: ConfigFile) throws -> ReactorBackend? {
        guard let name = try file.optionalString(backend, "backend") else { return nil }
        guard let value = ReactorBackend(rawValue: name) else {
            throw ValidationError("unknown backend \(name) (io_uring or epoll)")
        }
        return value
    }

    func level(_ file: ConfigFile, default defaultLevel: Logger.Level) throws -> Logger.Level {
        let name = try file.string(logLevel, "log-level", default: defaultLevel.rawValue)
        guard let value = Logger.Level(rawValue: name) else { throw ValidationError("unknown log level \(name)") }
        return value
    }

    func runDuration(_ file: ConfigFile) throws -> Double? {
        let value = try file.double(duration, "duration", default: 0)
        return value > 0 ? value : nil
    }
}

/// Parses `ip:port` / `[v6]:port`, or resolves `name:port` once (at start-up, before any loop runs: a listening
/// address is not re-resolved). A name with several addresses uses the first `getaddrinfo` returns; give the
/// numeric address to choose another.
func socketAddress(_ text: String, option: String) throws -> SocketAddress {
    if let address = try? SocketAddress(parsing: text) { return address }
    let endpoint: Endpoint
    do { endpoint = try Endpoint(parsing: text) } catch {
        throw ValidationError("--\(option): \(text) is not an address (host:port, 1.2.3.4:port or [v6]:port)")
    }
    switch HostResolver.lookUp(endpoint) {
    case .success(let addresses):
        guard let first = addresses.first else { throw ValidationError("--\(option): \(endpoint.host) has no address") }
        return first
    case .failure(let error):
        throw ValidationError("--\(option): cannot resolve \(endpoint.host): \(error)")
    }
}

/// An upstream: `host:port` (a name is resolved off the loop, again on every reconnect) or `[v6]:port`.
func endpoint(_ text: String, option: String) throws -> Endpoint {
    do { return try Endpoint(parsing: text) } catch {
        throw ValidationError("--\(option): \(text) is not an upstream address (host:port, 1.2.3.4:port or [v6]:port)")
    }
}

/// The client side's security from `--…authority-key` / `--…no-noise`.
func clientSecurity(authorityKey: String?, noNoise: Bool, option: String) throws -> Sv2ClientConfiguration.Security {
    if noNoise { return .plain }
    guard let authorityKey else {
        throw ValidationError("--\(option) is required (the pool's authority public key), or pass --\(option.replacingOccurrences(of: "authority-key", with: "no-noise")) for an unencrypted connection")
    }
    do { return .noise(authority: try AuthorityPublicKey(base58Check: authorityKey)) } catch {
        throw ValidationError("--\(option): not a valid authority public key (\(error))")
    }
}
