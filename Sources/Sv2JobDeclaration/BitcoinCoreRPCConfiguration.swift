import Foundation
import Glibc
public import Reactor

/// How to authenticate to Bitcoin Core's JSON-RPC (HTTP Basic). The password never appears in a description, a
/// log line or an error.
public enum BitcoinCoreRPCCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// bitcoind's cookie file (`<datadir>/.cookie`, `__cookie__:<random>`), read again for every request: bitcoind
    /// writes a new one each time it starts.
    case cookie(path: String)
    /// `rpcuser` and its password (the password read by the caller from a mode-0600 file).
    case user(String, password: String)

    /// Largest cookie file read.
    static let maximumCookieSize = 1_024

    /// The `Authorization` header value. Throws a reason (never the file's contents) when the cookie is unusable.
    func authorization() throws(BitcoinCoreRPCCredentialError) -> String {
        let pair: String
        switch self {
        case .user(let user, let password):
            pair = "\(user):\(password)"
        case .cookie(let path):
            pair = try Self.readCookie(path)
        }
        return "Basic " + Data(pair.utf8).base64EncodedString()
    }

    /// The `user:password` line of a cookie file: a regular file of at most 1 KiB, one line holding a colon.
    static func readCookie(_ path: String) throws(BitcoinCoreRPCCredentialError) -> String {
        // Non-blocking open: a FIFO planted in place of the cookie is refused instead of hanging the loop.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .init(reason: "cannot open cookie file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw .init(reason: "cookie file \(path) is not a regular file")
        }
        var bytes = [UInt8](repeating: 0, count: maximumCookieSize + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { break }
            count += got
        }
        guard count <= maximumCookieSize else { throw .init(reason: "cookie file \(path) is larger than 1 KiB") }
        var line = bytes[..<count]
        while let last = line.last, last == 0x0a || last == 0x0d { line = line.dropLast() }
        guard line.contains(UInt8(ascii: ":")), !line.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw .init(reason: "cookie file \(path) does not hold one user:password line")
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// Which kind, never the secret.
    public var description: String {
        switch self {
        case .cookie(let path): "cookie file \(path)"
        case .user(let user, _): "user \(user) (password from file)"
        }
    }

    /// The same as ``description``: the password stays out of `debugPrint` and interpolated enclosing values too.
    public var debugDescription: String { description }

    /// No children: `dump` and mirrors show the description only, never the password.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }
}

/// A cookie file that cannot be used (the reason names the path, never its contents).
struct BitcoinCoreRPCCredentialError: Error {
    var reason: String
}

/// Where and how the JD server reaches Bitcoin Core's JSON-RPC.
public struct BitcoinCoreRPCConfiguration: Sendable {
    /// `host:port` of bitcoind's RPC server (8332 mainnet, 18443 regtest).
    public var endpoint: Endpoint
    /// Cookie file or user and password.
    public var credentials: BitcoinCoreRPCCredentials
    /// Longest a TCP connect may take.
    public var connectTimeout: Duration = .seconds(5)
    /// Longest one request may take from connecting to the last byte of its answer (`submitblock` of a full block
    /// on a busy node takes a while).
    public var requestTimeout: Duration = .seconds(60)
    /// Largest answer accepted (HTTP head and body); a larger one fails the call with
    /// ``BitcoinCoreRPCError/responseTooLarge(method:limit:)``.
    public var maximumResponseBytes = 64 << 20
    /// Requests sent at once (one TCP connection each).
    public var maximumConcurrentRequests = 4
    /// Requests waiting to be sent at most; more are refused with ``BitcoinCoreRPCError/queueFull(method:limit:)``.
    public var maximumQueuedRequests = 256

    /// Creates a configuration with the default timeouts and bounds.
    public init(endpoint: Endpoint, credentials: BitcoinCoreRPCCredentials) {
        self.endpoint = endpoint
        self.credentials = credentials
    }
}
