public import Sv2JobDeclaration

/// Exports a Job Declaration server (`JobDeclarationServerService`) and a pool's token verifier
/// (`MiningJobTokenVerifier`) to swift-metrics, every series labelled `server="<name>"`. Call ``export()`` on their
/// loop thread (a ``MetricsHTTPServer`` refresher).
///
/// JD server (prefix `sv2_jds_`): `connections`, `tokens_allocated_total`, `jobs_declared_total`,
/// `jobs_accepted_total`, `jobs_refused_total{reason}`, `custom_jobs_authorized_total` and
/// `custom_jobs_refused_total{reason}` (a sibling pool's checks), `missing_transaction_requests_total`,
/// `transactions_provided_total`, `solutions_pushed_total`, `mempool_transactions`; plus the server's own `sv2_server_*`
/// series. Verifier (prefix `sv2_pool_`): `custom_job_tokens_verified_total`,
/// `custom_job_tokens_refused_total{reason}`, `custom_job_tokens_remembered`. Reasons are
/// `JobDeclarationError.name`s: a fixed set, so the series count stays bounded.
public final class JobDeclarationMetrics {
    /// The JD server's series.
    private struct ServerSeries {
        var connections: GaugeExport
        var tokens: DeltaCounter
        var declared: DeltaCounter
        var accepted: DeltaCounter
        var authorized: DeltaCounter
        var missing: DeltaCounter
        var provided: DeltaCounter
        var pushed: DeltaCounter
        var mempool: GaugeExport

        init(_ server: [(String, String)]) {
            connections = GaugeExport("sv2_jds_connections", server)
            tokens = DeltaCounter("sv2_jds_tokens_allocated_total", server)
            declared = DeltaCounter("sv2_jds_jobs_declared_total", server)
            accepted = DeltaCounter("sv2_jds_jobs_accepted_total", server)
            authorized = DeltaCounter("sv2_jds_custom_jobs_authorized_total", server)
            missing = DeltaCounter("sv2_jds_missing_transaction_requests_total", server)
            provided = DeltaCounter("sv2_jds_transactions_provided_total", server)
            pushed = DeltaCounter("sv2_jds_solutions_pushed_total", server)
            mempool = GaugeExport("sv2_jds_mempool_transactions", server)
        }
    }

    /// The verifier's series.
    private struct VerifierSeries {
        var verified: DeltaCounter
        var remembered: GaugeExport

        init(_ server: [(String, String)]) {
            verified = DeltaCounter("sv2_pool_custom_job_tokens_verified_total", server)
            remembered = GaugeExport("sv2_pool_custom_job_tokens_remembered", server)
        }
    }

    private let service: JobDeclarationServerService?
    private let verifier: MiningJobTokenVerifier?
    private let server: [(String, String)]
    private var serverSeries: ServerSeries?
    private var verifierSeries: VerifierSeries?
    private var labelled: [String: DeltaCounter] = [:]

    /// The `server` label value.
    public let name: String

    /// Creates the series for a JD server and/or a token verifier (only those of what is given), labelled `name`.
    public init(service: JobDeclarationServerService? = nil, verifier: MiningJobTokenVerifier? = nil, name: String) {
        self.service = service
        self.verifier = verifier
        self.name = name
        server = [("server", name)]
        if service != nil { serverSeries = ServerSeries(server) }
        if verifier != nil { verifierSeries = VerifierSeries(server) }
    }

    /// Reads every counter and records it. Loop thread only.
    public func export() {
        if let service, var series = serverSeries {
            service.server.exportMetrics()
            let s = service.declarator.statistics
            series.connections.set(service.server.connections.count)
            series.tokens.update(s.tokensAllocated)
            series.declared.update(s.jobsDeclared)
            series.accepted.update(s.jobsAccepted)
            series.authorized.update(s.customJobsAuthorized)
            series.missing.update(s.missingTransactionRequests)
            series.provided.update(s.transactionsProvided)
            series.pushed.update(s.solutionsPushed)
            series.mempool.set(service.declarator.mempoolCount)
            serverSeries = series
            update("sv2_jds_jobs_refused_total", s.declarationRejections)
            update("sv2_jds_custom_jobs_refused_total", s.customJobRejections)
        }
        if let verifier, var series = verifierSeries {
            series.verified.update(verifier.authorized)
            series.remembered.set(verifier.rememberedTokenCount)
            verifierSeries = series
            update("sv2_pool_custom_job_tokens_refused_total", verifier.rejections)
        }
    }

    private func update(_ label: String, _ counts: [String: Int]) {
        for (reason, count) in counts {
            let key = label + "\u{0}" + reason
            if labelled[key] == nil { labelled[key] = DeltaCounter(label, server + [("reason", reason)]) }
            labelled[key]!.update(count)
        }
    }
}
