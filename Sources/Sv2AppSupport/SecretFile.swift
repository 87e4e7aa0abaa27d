import Glibc

/// Files holding secrets: created atomically with mode 0600, and read only when no other user can read or
/// write them.
public enum SecretFile {
    /// No key file is larger; a bigger file is refused unread.
    public static let maxSize = 16 << 10

    /// Reads `path`: a regular file (symlinks are followed) owned by the current user and not accessible to group
    /// or others, at most ``maxSize`` bytes.
    public static func read(_ path: String) throws(AppSupportError) -> [UInt8] {
        // Non-blocking: a FIFO planted as the key file is then refused below instead of hanging the open.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .system(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(path: path, operation: "stat", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .wrongKind(path: path, expected: "a regular file") }
        try checkPrivate(path, mode: info.st_mode, owner: info.st_uid)
        guard info.st_size <= maxSize else { throw .fileTooLarge(path: path, limit: maxSize) }
        var bytes = [UInt8](repeating: 0, count: maxSize + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress! + count, raw.count - count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .system(path: path, operation: "read", errno: errno)
            }
            if got == 0 { break }
            count += got
        }
        guard count <= maxSize else { throw .fileTooLarge(path: path, limit: maxSize) }
        return Array(bytes[..<count])
    }

    /// Refuses `mode` when group or others have any access, or `owner` is another user.
    public static func checkPrivate(_ path: String, mode: UInt32, owner: UInt32) throws(AppSupportError) {
        guard mode & 0o077 == 0 else {
            throw .insecurePermissions(path: path, mode: mode, allowed: "readable by its owner only (600)")
        }
        guard owner == geteuid() else {
            throw .wrongKind(path: path, expected: "owned by the user running this program")
        }
    }

    /// Whether `path` exists (any kind of file).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Creates `path` holding `contents`, mode 0600, atomically: written and fsynced under a temporary name in the
    /// same directory, then linked into place — which fails if `path` exists, so a key is never overwritten and a
    /// reader never sees a partial file — and the directory fsynced.
    public static func create(_ path: String, contents: [UInt8]) throws(AppSupportError) {
        let random = UInt64.random(in: 0...UInt64.max)
        let temporary = "\(path).tmp-\(getpid())-\(String(random, radix: 16))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .system(path: temporary, operation: "create", errno: errno) }
        var linked = false
        defer { if !linked { unlink(temporary) } }
        do throws(AppSupportError) {
            // Exactly 0600 whatever the umask (which can only have removed bits).
            guard fchmod(fd, 0o600) == 0 else { throw .system(path: temporary, operation: "chmod", errno: errno) }
            var written = 0
            while written < contents.count {
                let wrote = contents.withUnsafeBytes { raw in write(fd, raw.baseAddress! + written, raw.count - written) }
                if wrote < 0 {
                    if errno == EINTR { continue }
                    throw .system(path: temporary, operation: "write", errno: errno)
                }
                written += wrote
            }
            guard fsync(fd) == 0 else { throw .system(path: temporary, operation: "fsync", errno: errno) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { throw .alreadyExists(path: path) }
            throw .system(path: path, operation: "link", errno: errno)
        }
        linked = true
        unlink(temporary)
        syncDirectory(of: path)
    }

    /// Makes the new directory entry durable (best effort: a failure here leaves a complete file either way).
    private static func syncDirectory(of path: String) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
