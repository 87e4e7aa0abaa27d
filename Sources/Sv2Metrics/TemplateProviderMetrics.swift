public import Sv2TemplateProvider

/// Exports a ``TemplateProviderService`` to swift-metrics (prefix `sv2_template_provider_`, label
/// `server="<name>"`): `connections`, `height`, `blocks_accepted_total`, `solutions_rejected_total`; plus the
/// server's own `sv2_server_*` series. Call ``export()`` on the provider's loop thread.
public final class TemplateProviderMetrics {
    private let service: TemplateProviderService
    private var connections: GaugeExport
    private var height: GaugeExport
    private var accepted: DeltaCounter
    private var rejected: DeltaCounter

    /// The `server` label value (the server's ``Sv2Service/Sv2Server/metricsName``).
    public let name: String

    /// Creates the series for `service`.
    public init(service: TemplateProviderService) {
        self.service = service
        name = service.server.metricsName
        let server = [("server", name)]
        connections = GaugeExport("sv2_template_provider_connections", server)
        height = GaugeExport("sv2_template_provider_height", server)
        accepted = DeltaCounter("sv2_template_provider_blocks_accepted_total", server)
        rejected = DeltaCounter("sv2_template_provider_solutions_rejected_total", server)
    }

    /// Reads every counter and records it. Loop thread only.
    public func export() {
        service.server.exportMetrics()
        let state = service.state
        connections.set(service.server.statistics.connectionsActive)
        height.set(Int(state.source.height))
        accepted.update(state.acceptedBlocks.count)
        rejected.update(state.rejectedSolutions)
    }
}
