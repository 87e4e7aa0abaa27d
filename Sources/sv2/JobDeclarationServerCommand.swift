import ArgumentParser
import Sv2JobDeclaration

/// `sv2 jd-server`: a pool with its Job Declaration server (siblings on one event loop).
struct JobDeclarationServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jd-server",
        abstract: "Run a pool that takes custom jobs, with its Job Declaration server (siblings on one event loop).",
        discussion: """
            Same as `sv2 pool --jd-listen 127.0.0.1:34264`: every `sv2 pool` option applies. JD clients allocate \
            mining job tokens here (bound to their connection and user, single use, carrying the pool's payout \
            output) and declare jobs; the pool accepts SetCustomMiningJob on channels that negotiated \
            REQUIRES_WORK_SELECTION once the JD server vouches for the token and the coinbase pays the pool. Noise \
            uses the pool's key. Tokens are signed (with the pool's authority key, or without one with \
            DATA_DIR/jd-server-token-secret-key), so pools on other hosts take them too: \
            `sv2 pool --jds-authority-key KEY` with the key printed at start. See Docs/JobDeclaration.md.

            With --rpc HOST:PORT (and --rpc-cookie PATH, or --rpc-user USER --rpc-password-file PATH) the JD \
            server uses Bitcoin Core: declared transactions it lacks are looked up in the node's mempool, and \
            pushed solutions are assembled into blocks, journaled and submitted with submitblock (retried while \
            the node is unreachable).

            With --without-pool the JD server runs alone (no pool, template link or ledger in this process): \
            pools elsewhere take its tokens with `sv2 pool --jds-authority-key KEY`, the key it prints at start.

            Example:
              sv2 jd-server --listen 0.0.0.0:34254 --jd-listen 0.0.0.0:34264 --tp 127.0.0.1:8442 --tp-no-noise \\
                --payout-script 0014…
            """)

    /// Every `sv2 pool` option, the Bitcoin Core RPC ones (`--rpc`, …) included.
    @OptionGroup var pool: PoolCommand

    @Flag(name: .long, help: "Run the JD server alone, for pools in other processes or hosts (sv2 pool --jds-authority-key KEY): no pool, template link or ledger here; declared transactions come from the JD clients and, with --rpc, the node's mempool.")
    var withoutPool = false

    /// Where the JD server listens unless `--jd-listen` says otherwise.
    static let listenDefault = "127.0.0.1:34264"

    func run() throws {
        if withoutPool {
            try pool.runJobDeclarationOnly(listenDefault: Self.listenDefault)
        } else {
            try pool.run(jobDeclarationDefault: Self.listenDefault)
        }
    }

    static func status(_ service: JobDeclarationServerService) -> String {
        let s = service.declarator.statistics
        return "jd-server: \(service.server.connections.count) connections, \(s.tokensAllocated) tokens, "
            + "\(s.customJobsAuthorized) custom jobs authorized, \(s.jobsAccepted) declarations accepted, "
            + "\(s.rejections.values.reduce(0, +)) refused \(s.rejections.sorted { $0.key < $1.key })"
    }
}
