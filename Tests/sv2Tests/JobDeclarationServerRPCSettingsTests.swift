import Foundation
import Glibc
import Testing
@testable import Sv2JobDeclaration
@testable import sv2

/// `sv2 jd-server --rpc …`: Bitcoin Core's address and credentials from flags or the config file; the password
/// file must be private and its contents never appear in an error or a description.
@Suite("sv2 jd-server Bitcoin Core RPC settings")
struct JobDeclarationServerRPCSettingsTests {
    static func resolve(_ arguments: [String]) throws -> BitcoinCoreRPCConfiguration? {
        let command = try JobDeclarationServerCommand.parse(arguments)
        let file = try ConfigFile(
            path: command.pool.runtime.config, allowedKeys: PoolCommand.keys.union(BitcoinCoreRPCOptions.keys))
        // The RPC options are the pool's: `sv2 pool --rpc` takes the same (and `sv2 jd-server` the same as before).
        #expect(try PoolCommand.parse(arguments).bitcoinCore.rpc == command.pool.bitcoinCore.rpc)
        return try command.pool.bitcoinCore.resolve(file)
    }

    @Test func cookieOrUserWithAPrivatePasswordFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        #expect(try Self.resolve([]) == nil)
        let cookie = try Self.resolve(["--rpc", "127.0.0.1:18443", "--rpc-cookie", "/var/lib/bitcoind/regtest/.cookie"])
        #expect(cookie?.endpoint.port == 18443)
        guard case .cookie(let path) = cookie?.credentials else {
            Issue.record("expected cookie credentials")
            return
        }
        #expect(path == "/var/lib/bitcoind/regtest/.cookie")
        let passwordFile = directory.file("rpc-password")
        write("hunter2-s3cret\n", to: passwordFile, permissions: 0o600)
        let user = try Self.resolve([
            "--rpc", "localhost:8332", "--rpc-user", "pool", "--rpc-password-file", passwordFile, "--rpc-timeout", "5",
        ])
        guard case .user(let name, let password) = user?.credentials else {
            Issue.record("expected user credentials")
            return
        }
        #expect(name == "pool" && password == "hunter2-s3cret")
        #expect(user?.requestTimeout == .seconds(5))
        #expect(!"\(user!.credentials)".contains("hunter2"))
        // The same from the config file.
        let config = directory.file("jds.toml")
        try "rpc = \"127.0.0.1:8332\"\nrpc-user = \"pool\"\nrpc-password-file = \"\(passwordFile)\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        guard case .user(_, let fromFile) = try Self.resolve(["--config", config])?.credentials else {
            Issue.record("expected user credentials from the config file")
            return
        }
        #expect(fromFile == "hunter2-s3cret")
    }

    @Test func unsafeOrIncompleteSettingsAreRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let passwordFile = directory.file("rpc-password")
        write("hunter2-s3cret\n", to: passwordFile, permissions: 0o644)
        do {
            _ = try Self.resolve(["--rpc", "127.0.0.1:8332", "--rpc-user", "pool", "--rpc-password-file", passwordFile])
            Issue.record("a password file readable by others was accepted")
        } catch {
            #expect("\(error)".contains("--rpc-password-file") && !"\(error)".contains("hunter2"))
        }
        #expect(throws: (any Error).self) { try Self.resolve(["--rpc", "127.0.0.1:8332"]) }
        #expect(throws: (any Error).self) { try Self.resolve(["--rpc-cookie", "/x/.cookie"]) }
        #expect(throws: (any Error).self) {
            try Self.resolve(["--rpc", "127.0.0.1:8332", "--rpc-cookie", "/x/.cookie", "--rpc-user", "pool"])
        }
        #expect(throws: (any Error).self) { try Self.resolve(["--rpc", "not an address", "--rpc-cookie", "/x/.cookie"]) }
        #expect(throws: (any Error).self) {
            try Self.resolve(["--rpc", "127.0.0.1:8332", "--rpc-cookie", "/x/.cookie", "--rpc-timeout", "0"])
        }
    }
}
