import ArgumentParser
import CoreMetrics
import Prometheus
import Reactor
import Sv2Metrics

/// `--metrics HOST:PORT`: Prometheus text exposition at `http://HOST:PORT/metrics`, served on the app's own event
/// loop; swift-prometheus is bootstrapped as the swift-metrics backend (once per process, before any service is
/// created, so every server's counters land in the same registry, each under its own `server` label).
enum MetricsEndpoint {
    /// Parses the address and bootstraps the backend; `nil` when `text` is `nil`.
    static func prepare(_ text: String?) throws -> (address: SocketAddress, registry: PrometheusCollectorRegistry)? {
        guard let text else { return nil }
        let address = try socketAddress(text, option: "metrics")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return (address, registry)
    }

    /// Starts the HTTP responder on `loop` with `refresh` run before every scrape; prints where it listens.
    static func start(
        _ prepared: (address: SocketAddress, registry: PrometheusCollectorRegistry), on loop: EventLoop,
        refresh: @escaping () -> Void
    ) throws -> MetricsHTTPServer {
        let server = MetricsHTTPServer(registry: prepared.registry, eventLoop: loop)
        server.addRefresher(refresh)
        do { try server.start(on: prepared.address) } catch {
            throw ValidationError("--metrics: cannot listen on \(prepared.address): \(error)")
        }
        print("metrics on http://\(server.localAddress.map { "\($0)" } ?? "?")/metrics")
        return server
    }
}
