import Glibc

/// The directory where an sv2 app keeps what must survive a restart (its authority key, the pool's block
/// journal): `--data-dir DIR`, or by default `$XDG_DATA_HOME/sv2`, else `$HOME/.local/share/sv2`, else `./sv2-data`
/// — a fixed place, so that restarting from another working directory finds the same key.
///
/// Created with mode 0700 (missing parents too). An existing directory is refused when other users can write to
/// it (they could replace the key file).
public struct DataDirectory: Sendable {
    /// The directory's path as given or resolved.
    public let path: String

    /// The default location for `environment` (the process environment in the apps).
    public static func defaultPath(environment: [String: String]) -> String {
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") { return data + "/sv2" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.local/share/sv2" }
        return "sv2-data"
    }

    /// Opens `path`, creating it (and missing parents) with mode 0700 when it does not exist.
    public init(path: String) throws(AppSupportError) {
        guard !path.isEmpty else { throw .wrongKind(path: "\"\"", expected: "a directory path") }
        self.path = path
        try Self.create(path)
        var info = stat()
        guard stat(path, &info) == 0 else { throw .system(path: path, operation: "stat", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .wrongKind(path: path, expected: "a directory") }
        guard info.st_mode & 0o022 == 0 else {
            throw .insecurePermissions(path: path, mode: info.st_mode, allowed: "a directory only its owner can write (700)")
        }
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }

    /// `mkdir -p` with mode 0700 for every directory it creates (exactly 0700, whatever the umask).
    private static func create(_ path: String) throws(AppSupportError) {
        var info = stat()
        if stat(path, &info) == 0 { return }
        let parent = Self.parent(of: path)
        if let parent { try create(parent) }
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST else { throw .system(path: path, operation: "mkdir", errno: errno) }
            return
        }
        guard chmod(path, 0o700) == 0 else { throw .system(path: path, operation: "chmod", errno: errno) }
    }

    private static func parent(of path: String) -> String? {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return nil }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? nil : String(parent)
    }
}
