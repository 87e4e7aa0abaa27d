import ArgumentParser
import Logging
import Sv2JobDeclaration
import Sv2Metrics
import Sv2Mining
import Sv2Service

extension PoolCommand {
    /// `sv2 jd-server --without-pool`: the Job Declaration server alone, for pools in other processes or on other
    /// hosts (`sv2 pool --jds-authority-key KEY`). The same JD settings as with a pool (listen address, Noise key,
    /// token signing key, payout script and subsidy floor, `--rpc`), the same block journal and its start-up check;
    /// no pool, template link or ledger. Declared transactions come from the JD clients and, with `--rpc`, the node's
    /// mempool (there are no pool templates to take them from).
    func runJobDeclarationOnly(listenDefault: String) throws {
        let (file, settings, journal, earlier) = try startUp(
            jobDeclarationDefault: listenDefault, logLabel: "sv2.jd-server")
        let jd = try jobDeclarationSettings(file, listenDefault: listenDefault, pool: settings)
        guard let listenAddress = jd.listenAddress else { throw ValidationError("--jd-listen is required") }
        let rpcConfiguration = try bitcoinCore.resolve(file)
        let metricsEndpoint = try MetricsEndpoint.prepare(try file.optionalString(metrics, "metrics"))
        var declarator: JobDeclarationServerService?
        var node: JobDeclarationNode?
        var metricsServer: MetricsHTTPServer?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10),
            status: {
                if let declarator { print(JobDeclarationServerCommand.status(declarator)) }
                if let node { print(node.status) }
            },
            setUp: { loop in
                var server = Sv2ServerConfiguration(listenAddress: listenAddress, noise: settings.server.noise)
                server.maxConnections = settings.server.maxConnections
                let jds = try JobDeclarationServerService(
                    payoutScript: settings.pool.payoutScript, server: server, halvingInterval: jd.halvingInterval,
                    signingKey: jd.signingKey, eventLoop: loop)
                try jds.start()
                declarator = jds
                print("job declaration server listening on "
                    + "\(jds.localAddress.map { "\($0)" } ?? "?") (no pool in this process), tokens signed by "
                    + "\(jds.declarator.signingKey.publicKey) (\(jd.signingKeyOrigin ?? "?"); pools: --jds-authority-key)")
                if let rpcConfiguration {
                    node = JobDeclarationNode.start(
                        rpcConfiguration, jds: jds, pool: nil, journal: journal, earlier: earlier, loop: loop)
                }
                if let metricsEndpoint {
                    let exporter = JobDeclarationMetrics(service: jds, name: jds.server.metricsName)
                    metricsServer = try MetricsEndpoint.start(metricsEndpoint, on: loop) { exporter.export() }
                }
            },
            shutdown: {
                metricsServer?.stop()
                node?.rpc.stop()
                declarator?.stop()
            },
            tearDown: {
                if let declarator { print(JobDeclarationServerCommand.status(declarator)) }
                if let node { print(node.status) }
            })
    }
}
