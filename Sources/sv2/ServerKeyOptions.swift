import ArgumentParser
import Foundation
import Logging
import Sv2AppSupport
import Sv2Noise

/// Where a server app (pool, proxy) keeps its state and gets its Noise identity: the data directory, the authority
/// secret key (argument, file, environment variable, or a key file kept in the data directory), or a persistent
/// server key + certificate made by `sv2 keys certificate`.
struct ServerKeyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Directory for what must survive a restart (the authority key file…); created mode 700.",
        discussion: "Default: $XDG_DATA_HOME/sv2, else $HOME/.local/share/sv2, else ./sv2-data."))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp(
        "Authority secret key (base58check). Visible to every user in ps: prefer --authority-secret-key-file or $\(AuthoritySecret.environmentVariable)."))
    var authoritySecretKey: String?

    @Option(name: .long, help: "File with the authority secret key (from `sv2 keys authority`; must be mode 600).")
    var authoritySecretKeyFile: String?

    @Option(name: .long, help: ArgumentHelp(
        "Persistent server static key + certificate (from `sv2 keys certificate`; mode 600).",
        discussion: "The authority secret key then stays off this machine; restart with a new file before the certificate expires."))
    var serverKeyFile: String?

    static let keys: Set<String> = ["data-dir", "authority-secret-key", "authority-secret-key-file", "server-key-file"]

    /// The server's Noise identity and what to tell the operator about it.
    struct Resolved {
        var identity: NoiseResponder.Identity?
        var authority: AuthorityPublicKey?
        /// Where the key came from (never the key).
        var origin: String?
        /// Printed once at start (e.g. a secret given on the command line).
        var warnings: [String] = []
        /// Whether the key is kept in the data directory.
        var usesDataDirectory = false
    }

    /// The data directory's path (nothing created).
    func dataDirectoryPath(_ file: ConfigFile, environment: [String: String]) throws -> String {
        try file.string(dataDir, "data-dir", default: DataDirectory.defaultPath(environment: environment))
    }

    /// The data directory (created mode 0700 when missing).
    func dataDirectory(_ file: ConfigFile, environment: [String: String]) throws -> DataDirectory {
        let path = try dataDirectoryPath(file, environment: environment)
        do { return try DataDirectory(path: path) } catch { throw ValidationError("--data-dir: \(error)") }
    }

    /// Resolves the identity of `app` ("pool", "proxy"…): none with `noNoise`; the server key file; else the authority
    /// key from the flag, the config file (which must then be private), the key file, the environment, or the data
    /// directory's `<app>-authority-secret-key` (created on first start, reused after).
    func resolve(
        _ file: ConfigFile, app: String, noNoise: Bool, certificateValidity: UInt32,
        environment: [String: String], now: UInt64
    ) throws -> Resolved {
        let secretInConfig = try file.privateString("authority-secret-key")
        let secretFile = try file.optionalString(authoritySecretKeyFile, "authority-secret-key-file")
        let serverKey = try file.optionalString(serverKeyFile, "server-key-file")
        let dataPath = try file.string(dataDir, "data-dir", default: DataDirectory.defaultPath(environment: environment))
        if noNoise { return Resolved() }
        do {
            if let serverKey {
                guard authoritySecretKey == nil, secretInConfig == nil, secretFile == nil else {
                    throw AppSupportError.conflictingOptions(
                        "--server-key-file replaces the authority secret key: give one or the other")
                }
                let loaded = try ServerKeyFile.load(serverKey, now: now)
                let days = (Int64(loaded.certificate.notValidAfter) - Int64(now)) / 86_400
                var resolved = Resolved(
                    identity: try loaded.identity(), authority: loaded.authority,
                    origin: "from the certificate in \(serverKey), valid \(days) more days")
                if days < 30 { resolved.warnings.append("the certificate in \(serverKey) expires in \(days) days") }
                return resolved
            }
            let secret = try AuthoritySecret.resolve(
                argument: authoritySecretKey ?? secretInConfig, file: secretFile, environment: environment,
                dataDirectoryFile: { () throws(AppSupportError) -> String in
                    try DataDirectory(path: dataPath).file("\(app)-authority-secret-key")
                } as () throws(AppSupportError) -> String,
                comment: ["sv2 \(app) authority key pair (keep this file secret: mode 600).",
                          "Miners pin authority-public-key; the pool reuses this file on every start."])
            var resolved = Resolved(
                identity: .freshStaticKeyPerConnection(authority: secret.pair, certificateValidity: certificateValidity),
                authority: secret.pair.publicKey, origin: secret.originDescription)
            if case .dataDirectory = secret.origin { resolved.usesDataDirectory = true }
            if authoritySecretKey != nil { resolved.warnings.append(AuthoritySecret.argumentWarning) }
            return resolved
        } catch let error as AppSupportError {
            throw ValidationError("\(error)")
        }
    }

    /// Resolves the identity of `app` (`proxy`, `jd-client`: apps without `--certificate-validity`, whose
    /// per-connection certificates are valid an hour), logs its warnings and prints the authority public key miners
    /// pin.
    func resolveAndAnnounce(_ file: ConfigFile, app: String, noNoise: Bool) throws -> Resolved {
        let keys = try resolve(
            file, app: app, noNoise: noNoise, certificateValidity: 3600,
            environment: ProcessInfo.processInfo.environment, now: UInt64(Date().timeIntervalSince1970))
        for warning in keys.warnings { Logger(label: "sv2.\(app)").warning("\(warning)") }
        if let authority = keys.authority {
            print("\(app) authority public key: \(authority.base58Check) (\(keys.origin ?? "?"))")
        }
        return keys
    }
}
