import ArgumentParser
import Reactor
import Sv2AppSupport
import Sv2JobDeclaration

/// `sv2 pool|jd-server|blocks submit --rpc HOST:PORT` with `--rpc-cookie PATH` or `--rpc-user USER
/// --rpc-password-file PATH`: Bitcoin Core's JSON-RPC (for a pool: the whole blocks an earlier run left unsettled,
/// submitted again at start-up; for the JD server also declared transactions looked up in the node's mempool and
/// pushed solutions assembled and submitted with `submitblock`). The password is read from a file private to its owner
/// (mode 600) and never printed; there is deliberately no flag taking the password itself (it would show in `ps`).
struct BitcoinCoreRPCOptions: ParsableArguments {
    @Option(name: .long, help: "Bitcoin Core RPC address (host:port; 8332 mainnet, 18443 regtest): the journal's unsettled whole blocks go to submitblock (sv2 pool and jd-server: at start-up); a JD server also looks declared transactions up in its mempool and submits pushed blocks with submitblock.")
    var rpc: String?

    @Option(name: .long, help: "With --rpc: bitcoind's cookie file (DATADIR/.cookie, or DATADIR/<chain>/.cookie), read again for every request.")
    var rpcCookie: String?

    @Option(name: .long, help: "With --rpc: the rpcuser (with --rpc-password-file instead of a cookie).")
    var rpcUser: String?

    @Option(name: .long, help: "With --rpc-user: file holding the RPC password (mode 600, one line).")
    var rpcPasswordFile: String?

    @Option(name: .long, help: "With --rpc: seconds one RPC request may take (default 60).")
    var rpcTimeout: Double?

    static let keys: Set<String> = ["rpc", "rpc-cookie", "rpc-user", "rpc-password-file", "rpc-timeout"]

    /// The RPC configuration, or `nil` without `--rpc`. Reads (and checks) the password file now.
    func resolve(_ file: ConfigFile) throws -> BitcoinCoreRPCConfiguration? {
        let cookie = try file.optionalString(rpcCookie, "rpc-cookie")
        let user = try file.optionalString(rpcUser, "rpc-user")
        let passwordFile = try file.optionalString(rpcPasswordFile, "rpc-password-file")
        guard let address = try file.optionalString(rpc, "rpc") else {
            if cookie != nil || user != nil || passwordFile != nil {
                throw ValidationError("--rpc-cookie, --rpc-user and --rpc-password-file need --rpc HOST:PORT")
            }
            return nil
        }
        let credentials: BitcoinCoreRPCCredentials
        switch (cookie, user, passwordFile) {
        case (let cookie?, nil, nil):
            credentials = .cookie(path: cookie)
        case (nil, let user?, let passwordFile?):
            guard !user.isEmpty, !user.contains(":") else { throw ValidationError("--rpc-user must be non-empty, without ':'") }
            credentials = .user(user, password: try Self.password(passwordFile))
        default:
            throw ValidationError("--rpc needs either --rpc-cookie PATH or both --rpc-user USER and --rpc-password-file PATH")
        }
        var configuration = BitcoinCoreRPCConfiguration(endpoint: try endpoint(address, option: "rpc"), credentials: credentials)
        let timeout = try file.double(rpcTimeout, "rpc-timeout", default: 60)
        guard timeout.isFinite, timeout > 0, timeout <= 3_600 else {
            throw ValidationError("--rpc-timeout must be a positive number of seconds (at most 3600)")
        }
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        return configuration
    }

    /// The password in `path`: a private file (mode 600, owned by this user), its first line.
    static func password(_ path: String) throws -> String {
        let bytes: [UInt8]
        do { bytes = try SecretFile.read(path) } catch { throw ValidationError("--rpc-password-file: \(error)") }
        let line = bytes.prefix { $0 != 0x0a && $0 != 0x0d }
        guard !line.isEmpty, let password = String(validating: line, as: UTF8.self) else {
            throw ValidationError("--rpc-password-file \(path): the first line must hold the password (UTF-8)")
        }
        return password
    }
}
