import CoreMetrics
import Foundation
import Prometheus
import Sv2Mining

/// The one Prometheus registry of the test process: swift-metrics can be bootstrapped once per process, so every
/// metrics test shares it and keeps apart by giving its servers unique `server` names.
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// A `server` label value no other test uses.
    static func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// Scrapes `port` until `condition` holds (bounded); returns the last scrape.
    static func scrape(
        port: UInt16, timeout: Double = 20, until condition: (MetricsScrape) -> Bool = { _ in true }
    ) throws -> MetricsScrape {
        let deadline = Date().addingTimeInterval(timeout)
        var last = try MetricsScrape.get(port: port)
        while !condition(last), Date() < deadline {
            usleep(10_000)
            last = try MetricsScrape.get(port: port)
        }
        return last
    }
}

/// A block journal whose disk is full: every append fails (drives `block_journal_failures_total`).
final class FullDiskJournal: BlockJournaling {
    func append(_ entry: BlockJournalEntry) throws(BlockJournalError) {
        throw .system(call: "write", path: "full-disk", errno: 28)
    }
}
