import Reactor

/// `sv2 pool` as a child process: plain Sv2 on a loopback port of its choosing, warnings logged, started and
/// listening.
struct PoolApp {
    /// The running process (kill it in the test's clean-up).
    let process: AppProcess
    /// Where it listens.
    let address: SocketAddress

    /// The port it listens on.
    var port: UInt16 { address.port }

    /// Starts `sv2 pool --listen 127.0.0.1:0 --no-noise --log-level warning --backend <backend> <arguments>` and
    /// waits (bounded) for its `pool listening on` line; the process is killed if that line never comes. With
    /// `descriptorLimit` it runs under `ulimit -n` (soft and hard, so the app's own raise to the hard limit changes
    /// nothing) and its log lines (standard error) are collected with its output.
    static func start(_ arguments: [String], backend: ReactorBackend = .epoll, descriptorLimit: Int? = nil) throws -> PoolApp {
        let pool = ["pool", "--listen", "127.0.0.1:0", "--no-noise", "--log-level", "warning", "--backend", backend.rawValue]
            + arguments
        let process: AppProcess
        if let descriptorLimit {
            process = try AppProcess("/bin/sh", [
                "-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\" 2>&1", try AppProcess.sv2Executable(),
            ] + pool)
        } else {
            process = try AppProcess(try AppProcess.sv2Executable(), pool)
        }
        guard let port = try process.waitForPort(inLineContaining: "pool listening on") else {
            process.kill()
            throw AppProcessError.notListening(output: process.output)
        }
        return PoolApp(process: process, address: try SocketAddress(ip: "127.0.0.1", port: port))
    }
}
