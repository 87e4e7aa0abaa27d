import Foundation
import Glibc
import Sv2Noise
import Testing
@testable import Sv2AppSupport

/// Issue #12 item 10: the data directory, key files (mode 0600, refused when others can read them), reuse across
/// restarts, and the sources of the authority secret key.
@Suite("Data directory and key files")
struct KeyFileTests {
    @Test func dataDirectoryIsCreatedPrivateWithItsParents() throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        let old = umask(0o022)
        defer { umask(old) }
        let directory = try DataDirectory(path: temporary.file("a/b/data"))
        #expect(mode(temporary.file("a/b/data")) == 0o700)
        #expect(mode(temporary.file("a")) == 0o700)
        #expect(directory.file("x") == temporary.file("a/b/data/x"))
        // Opening it again is fine; a directory others can write to is refused.
        _ = try DataDirectory(path: temporary.file("a/b/data"))
        chmod(temporary.file("a/b/data"), 0o777)
        #expect(throws: AppSupportError.self) { try DataDirectory(path: temporary.file("a/b/data")) }
        write("", to: temporary.file("plain"), permissions: 0o600)
        #expect(throws: AppSupportError.wrongKind(path: temporary.file("plain"), expected: "a directory")) {
            try DataDirectory(path: temporary.file("plain"))
        }
    }

    @Test func defaultDataDirectoryFollowsXDG() {
        #expect(DataDirectory.defaultPath(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/home/a"]) == "/x/data/sv2")
        #expect(DataDirectory.defaultPath(environment: ["HOME": "/home/a"]) == "/home/a/.local/share/sv2")
        #expect(DataDirectory.defaultPath(environment: ["XDG_DATA_HOME": "relative"]) == "sv2-data")
        #expect(DataDirectory.defaultPath(environment: [:]) == "sv2-data")
    }

    @Test func secretFilesAreCreated0600AndNeverOverwritten() throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        let old = umask(0)  // the mode must not depend on the umask
        defer { umask(old) }
        let path = temporary.file("secret")
        try SecretFile.create(path, contents: Array("one".utf8))
        #expect(mode(path) == 0o600)
        #expect(try SecretFile.read(path) == Array("one".utf8))
        #expect(throws: AppSupportError.alreadyExists(path: path)) { try SecretFile.create(path, contents: Array("two".utf8)) }
        #expect(try SecretFile.read(path) == Array("one".utf8))
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path) == ["secret"])
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o602] as [mode_t])
    func secretFilesOthersCanAccessAreRefused(permissions: mode_t) throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        let pair = try AuthorityKeyPair.generate()
        let path = temporary.file("key")
        write(AuthorityKeyFile.render(pair, comment: []), to: path, permissions: permissions)
        do {
            _ = try AuthorityKeyFile.load(path)
            Issue.record("a mode \(String(permissions, radix: 8)) key file was accepted")
        } catch {
            guard case .insecurePermissions(let named, _, _) = error else { throw error }
            #expect(named == path)
            #expect(error.description.contains("chmod 600 \(path)"))
            #expect(!error.description.contains(pair.secretKeyBase58Check))
        }
        chmod(path, 0o600)
        #expect(try AuthorityKeyFile.load(path).publicKey == pair.publicKey)
    }

    @Test func oversizedAndMalformedKeyFilesAreRefusedWithoutEchoingThem() throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        let big = temporary.file("big")
        write(String(repeating: "a", count: SecretFile.maxSize + 1), to: big, permissions: 0o600)
        #expect(throws: AppSupportError.fileTooLarge(path: big, limit: SecretFile.maxSize)) { try SecretFile.read(big) }
        let pair = try AuthorityKeyPair.generate()
        let broken = temporary.file("broken")
        write("authority-secret-key = \(pair.secretKeyBase58Check)\n", to: broken, permissions: 0o600)  // no quotes
        do {
            _ = try AuthorityKeyFile.load(broken)
            Issue.record("accepted")
        } catch {
            #expect(!error.description.contains(pair.secretKeyBase58Check))
        }
        let mismatched = temporary.file("mismatched")
        let other = try AuthorityKeyPair.generate()
        write("authority-public-key = \"\(other.publicKey)\"\nauthority-secret-key = \"\(pair.secretKeyBase58Check)\"\n",
              to: mismatched, permissions: 0o600)
        #expect(throws: AppSupportError.self) { try AuthorityKeyFile.load(mismatched) }
        // A FIFO planted as a key file is refused without blocking on the open.
        let fifo = temporary.file("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(throws: AppSupportError.wrongKind(path: fifo, expected: "a regular file")) { try SecretFile.read(fifo) }
        // A bare key (one line) is read too.
        let bare = temporary.file("bare")
        write("\(pair.secretKeyBase58Check)\n", to: bare, permissions: 0o600)
        #expect(try AuthorityKeyFile.load(bare).publicKey == pair.publicKey)
    }

    @Test func theDataDirectoryKeyIsReusedAcrossRestarts() throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        func start() throws -> AuthoritySecret {
            try AuthoritySecret.resolve(
                argument: nil, file: nil, environment: [:],
                dataDirectoryFile: { () throws(AppSupportError) -> String in
                    try DataDirectory(path: temporary.file("data")).file("pool-authority-secret-key")
                } as () throws(AppSupportError) -> String, comment: ["test"])
        }
        let first = try start()
        let path = temporary.file("data/pool-authority-secret-key")
        #expect(first.origin == .dataDirectory(path: path, created: true))
        #expect(mode(path) == 0o600)
        let second = try start()
        #expect(second.origin == .dataDirectory(path: path, created: false))
        #expect(second.pair.publicKey == first.pair.publicKey)
        #expect(second.pair.secretKey == first.pair.secretKey)
        // Loosened permissions: refused, not silently replaced by a new key.
        chmod(path, 0o644)
        #expect(throws: AppSupportError.self) { try start() }
    }

    @Test func theSecretComesFromTheArgumentTheFileOrTheEnvironment() throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        let fromArgument = try AuthorityKeyPair.generate()
        let fromFile = try AuthorityKeyPair.generate()
        let fromEnvironment = try AuthorityKeyPair.generate()
        let file = temporary.file("key")
        try AuthorityKeyFile.create(file, pair: fromFile, comment: [])
        let environment = [AuthoritySecret.environmentVariable: fromEnvironment.secretKeyBase58Check]
        var dataDirectoryUsed = false
        let dataDirectory = { () throws(AppSupportError) -> String in
            dataDirectoryUsed = true
            return temporary.file("unused")
        }
        func resolve(_ argument: String?, _ path: String?, _ environment: [String: String]) throws -> AuthoritySecret {
            try AuthoritySecret.resolve(
                argument: argument, file: path, environment: environment, dataDirectoryFile: dataDirectory, comment: [])
        }
        #expect(try resolve(fromArgument.secretKeyBase58Check, nil, environment).pair.publicKey == fromArgument.publicKey)
        #expect(try resolve(nil, file, environment).origin == .file(file))
        #expect(try resolve(nil, file, environment).pair.publicKey == fromFile.publicKey)
        let viaEnvironment = try resolve(nil, nil, environment)
        #expect(viaEnvironment.pair.publicKey == fromEnvironment.publicKey)
        #expect(viaEnvironment.origin == .environment(AuthoritySecret.environmentVariable))
        #expect(!dataDirectoryUsed)
        #expect(throws: AppSupportError.self) { try resolve(fromArgument.secretKeyBase58Check, file, [:]) }
        // A bad key names its source, never its value.
        do {
            _ = try resolve(nil, nil, [AuthoritySecret.environmentVariable: "not-a-key-123"])
            Issue.record("accepted")
        } catch {
            #expect(error as? AppSupportError == .invalidKey(source: "$\(AuthoritySecret.environmentVariable)"))
            #expect(!"\(error)".contains("not-a-key-123"))
        }
    }

    @Test func certificateValidityIsCheckedNotTrapped() throws {
        let now: UInt64 = 1_700_000_000
        let window = try CertificateValidity.window(now: now, days: 365)
        #expect(window.validFrom == 1_700_000_000 && window.notValidAfter == 1_700_000_000 + 365 * 86_400)
        // 4e9 days × 86 400 overflows 32 bits (what trapped in `sv2 keys certificate`), 64 bits for .max.
        for days: UInt64 in [0, 4_000_000_000, UInt64(UInt32.max), .max, CertificateValidity.maxDays + 1] {
            #expect(throws: AppSupportError.self, "\(days) days") { try CertificateValidity.window(now: now, days: days) }
        }
        // A year from early 2106 ends after 2106-02-07, the last second a certificate can name.
        #expect(throws: AppSupportError.self) { try CertificateValidity.window(now: 4_290_000_000, days: 365) }
        #expect(throws: AppSupportError.self) { try CertificateValidity.seconds(-1) }
        #expect(throws: AppSupportError.self) { try CertificateValidity.seconds(Int(UInt32.max) + 1) }
        #expect(try CertificateValidity.seconds(3600) == 3600)
    }

    @Test func serverKeyFilesRoundTripAndExpiredOnesAreRefused() throws {
        let temporary = TemporaryDirectory()
        defer { temporary.remove() }
        let authority = try AuthorityKeyPair.generate()
        let made = try ServerKeyFile.make(authority: authority, validFrom: 1_700_000_000, notValidAfter: 1_700_086_400)
        let path = temporary.file("server-key")
        try made.create(path, comment: ["test"])
        #expect(mode(path) == 0o600)
        let loaded = try ServerKeyFile.load(path, now: 1_700_000_100)
        #expect(loaded.authority == authority.publicKey)
        #expect(loaded.secretKey == made.secretKey && loaded.certificate == made.certificate)
        #expect(throws: AppSupportError.self) { try ServerKeyFile.load(path, now: 1_700_200_000) }  // expired
        // Signed by another authority than the one listed: refused.
        let other = try AuthorityKeyPair.generate()
        let forged = temporary.file("forged")
        write(try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
            of: authority.publicKey.base58Check, with: other.publicKey.base58Check), to: forged, permissions: 0o600)
        #expect(throws: AppSupportError.self) { try ServerKeyFile.load(forged, now: 1_700_000_100) }
    }

    @Test func secretsDoNotShowInDescriptionsOrDumps() throws {
        let pair = try AuthorityKeyPair.generate()
        let server = try ServerKeyFile.make(authority: pair, validFrom: 1_700_000_000, notValidAfter: 1_800_000_000)
        let identities: [NoiseResponder.Identity] = [
            .freshStaticKeyPerConnection(authority: pair, certificateValidity: 60), try server.identity(),
        ]
        let secret = try AuthoritySecret.resolve(
            argument: pair.secretKeyBase58Check, file: nil, environment: [:],
            dataDirectoryFile: { () throws(AppSupportError) -> String in "" }, comment: [])
        let values: [Any] = [pair, server, secret, identities[0], identities[1]]
        // Secret forms: base58check, hex, and the byte list the default reflection would print.
        let forbidden = [pair.secretKeyBase58Check, hex(pair.secretKey), "\(pair.secretKey)", hex(server.secretKey),
                         "\(server.secretKey)", "\(pair.secretKey.prefix(4))".dropLast().description]
        for value in values {
            var dumped = ""
            dump(value, to: &dumped)
            for text in [String(describing: value), String(reflecting: value), dumped] {
                for secretForm in forbidden { #expect(!text.contains(secretForm), "\(type(of: value)) shows a secret") }
            }
        }
        #expect(String(describing: pair).contains(pair.publicKey.base58Check))
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
