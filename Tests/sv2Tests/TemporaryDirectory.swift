import Foundation
import Glibc

/// A fresh directory under /tmp for one test, removed with everything in it by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/sv2-app-support-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The permission bits of `path` (no symlink following).
func mode(_ path: String) -> UInt32 {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0xffff_ffff }
    return UInt32(info.st_mode & 0o7777)
}

/// Writes `text` to `path` with `permissions` (a test's hand-made key file).
func write(_ text: String, to path: String, permissions: mode_t) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    chmod(path, permissions)
}
