import Glibc

/// The POSIX steps an append-only journal needs to make its bytes durable, each retried on `EINTR`, written once for
/// the block journal and the used-token journal. A failure names the call and its errno; each journal maps it into
/// its own typed error (with the path it was working on).
package enum DurableFile {
    /// A system call that failed.
    package struct Failure: Error, Equatable {
        /// `write` or `fsync`.
        package let call: String
        /// Its errno.
        package let errno: Int32
    }

    /// Writes all of `bytes` to `descriptor` (short writes continued).
    package static func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws(Failure) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { raw in write(descriptor, raw.baseAddress! + written, raw.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(call: "write", errno: errno)
            }
            written += count
        }
    }

    /// Flushes `descriptor` to stable storage.
    package static func sync(_ descriptor: Int32) throws(Failure) {
        while fsync(descriptor) != 0 {
            if errno == EINTR { continue }
            throw Failure(call: "fsync", errno: errno)
        }
    }

    /// Flushes the directory holding `path`, so that a file created or renamed there keeps its name after a crash.
    /// Best effort: a directory that cannot be opened is left as it is.
    package static func syncDirectory(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}
