public import Sv2Noise

/// A server's authority key pair and where it came from, resolved from (first match wins):
/// `--authority-secret-key` (argv: works, but visible in `ps`), `--authority-secret-key-file FILE`, the environment
/// variable ``environmentVariable``, else a file in the data directory — created on first start and reused after,
/// so miners pinned to the public key reconnect across restarts.
public struct AuthoritySecret: Sendable {
    /// Where the key came from (never the key).
    public enum Origin: Equatable, Sendable {
        /// A value given directly: a command-line argument or the config file's `authority-secret-key`.
        case argument
        /// `--authority-secret-key-file`.
        case file(String)
        /// The environment variable.
        case environment(String)
        /// The data directory's key file, `created` on this start or reused.
        case dataDirectory(path: String, created: Bool)
    }

    /// The environment variable holding a base58check authority secret key.
    public static let environmentVariable = "SV2_AUTHORITY_SECRET_KEY"

    /// The key pair.
    public let pair: AuthorityKeyPair
    /// Where it came from.
    public let origin: Origin

    /// Resolves the key. `dataDirectoryFile` is only called (and the data directory only created) when no other
    /// source is given; it returns the key file's path.
    public static func resolve(
        argument: String?, file: String?, environment: [String: String],
        dataDirectoryFile: () throws(AppSupportError) -> String, comment: [String]
    ) throws(AppSupportError) -> AuthoritySecret {
        if argument != nil, file != nil {
            throw .conflictingOptions("give either --authority-secret-key or --authority-secret-key-file, not both")
        }
        if let argument {
            return AuthoritySecret(pair: try AuthorityKeyFile.pair(argument, source: "--authority-secret-key"), origin: .argument)
        }
        if let file { return AuthoritySecret(pair: try AuthorityKeyFile.load(file), origin: .file(file)) }
        if let value = environment[environmentVariable], !value.isEmpty {
            return AuthoritySecret(
                pair: try AuthorityKeyFile.pair(value, source: "$\(environmentVariable)"),
                origin: .environment(environmentVariable))
        }
        let path = try dataDirectoryFile()
        let (pair, created) = try AuthorityKeyFile.loadOrCreate(path, comment: comment)
        return AuthoritySecret(pair: pair, origin: .dataDirectory(path: path, created: created))
    }

    /// The warning for a secret given on the command line.
    public static let argumentWarning =
        "the authority secret key given as an argument is visible to every user in `ps` and in shell history; "
        + "use --authority-secret-key-file FILE (mode 600) or $\(environmentVariable) instead"

    /// One line saying where the key is (no secret).
    public var originDescription: String {
        switch origin {
        case .argument: "from the command line"
        case .file(let path): "from \(path)"
        case .environment(let name): "from $\(name)"
        case .dataDirectory(let path, let created): created ? "new, saved in \(path)" : "reused from \(path)"
        }
    }
}
