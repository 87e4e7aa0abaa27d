import Foundation

/// The PostgreSQL server of the test run: `SV2_TEST_POSTGRES_URL` (set by `scripts/with-postgres.sh`, which CI
/// runs the tests under). Unset: the PostgreSQL tests are skipped; set but unreachable: they fail.
public enum PostgresTestServer {
    /// The URL, if the run has a server.
    public static let url = ProcessInfo.processInfo.environment["SV2_TEST_POSTGRES_URL"]

    /// True when the run has a server.
    public static var isConfigured: Bool { url != nil }

    /// The server's port (from the URL).
    public static func port() throws -> UInt16 {
        guard let url, let port = URLComponents(string: url)?.port, let value = UInt16(exactly: port) else {
            throw PostgresTestServerError.badURL
        }
        return value
    }

    /// The same URL with host and port replaced by `127.0.0.1:port` (to go through a ``TCPForwarder``).
    public static func url(throughPort port: UInt16) throws -> String {
        guard let url, var components = URLComponents(string: url) else { throw PostgresTestServerError.badURL }
        components.host = "127.0.0.1"
        components.port = Int(port)
        guard let rewritten = components.string else { throw PostgresTestServerError.badURL }
        return rewritten
    }

    /// A node name no other test (or earlier run on the same database) uses.
    public static func uniqueNode(_ prefix: String) -> String { "\(prefix)-\(UInt64.random(in: 0...UInt64.max))" }
}

/// The test server's URL cannot be used.
public enum PostgresTestServerError: Error { case badURL }
