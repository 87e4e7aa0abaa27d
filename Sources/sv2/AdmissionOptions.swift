import ArgumentParser
import Sv2Service

/// Admission control before authentication (every Sv2 server app): how many handshakes may be in flight and what one
/// source address may open. The defaults let an honest reconnect storm after a restart through (see
/// `Sv2ServerConfiguration`); lower them for a server that only a known set of hosts reaches.
struct AdmissionOptions: ParsableArguments {
    @Option(name: .long, help: "Connections accepted but not yet set up (handshake + SetupConnection) at most; more are refused at accept, before any crypto (default 20000).")
    var maxHandshakes: Int?

    @Option(name: .long, help: "Open connections from one source address (an IPv4 address or an IPv6 /64) at most (default 25000).")
    var maxConnectionsPerSource: Int?

    @Option(name: .long, help: "New connections one source address may open per second, sustained (default 1000).")
    var sourceConnectionRate: Double?

    @Option(name: .long, help: "New connections one source address may open at once after being quiet (default 10000).")
    var sourceConnectionBurst: Int?

    static let keys: Set<String> = [
        "max-handshakes", "max-connections-per-source", "source-connection-rate", "source-connection-burst",
    ]

    /// Applies flags (or the config file's keys) over `configuration`'s defaults, refusing values that are not positive.
    func apply(to configuration: inout Sv2ServerConfiguration, _ file: ConfigFile) throws {
        configuration.maxHandshakesInFlight = try file.int(
            maxHandshakes, "max-handshakes", default: configuration.maxHandshakesInFlight)
        configuration.maxConnectionsPerSource = try file.int(
            maxConnectionsPerSource, "max-connections-per-source", default: configuration.maxConnectionsPerSource)
        configuration.newConnectionsPerSourcePerSecond = try file.double(
            sourceConnectionRate, "source-connection-rate", default: configuration.newConnectionsPerSourcePerSecond)
        configuration.newConnectionsPerSourceBurst = try file.int(
            sourceConnectionBurst, "source-connection-burst", default: configuration.newConnectionsPerSourceBurst)
        do { try configuration.validate() } catch { throw ValidationError("\(error)") }
    }
}
