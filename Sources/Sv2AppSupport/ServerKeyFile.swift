public import Sv2Noise
import Sv2Codec

/// A persistent server static key with its certificate (`sv2 keys certificate`), mode 0600 — what a server uses
/// instead of the authority secret key, which then stays offline:
///
/// ```
/// authority-public-key = "9bXiEd8…"
/// server-static-secret-key = "<32 bytes hex>"
/// server-certificate = "<74 bytes hex>"
/// ```
public struct ServerKeyFile: Sendable {
    /// The authority that signed the certificate (what miners pin).
    public let authority: AuthorityPublicKey
    /// The server's static secret key (32 bytes).
    public let secretKey: [UInt8]
    /// The certificate for the static key.
    public let certificate: Sv2Certificate

    /// A new static key with a certificate signed by `authority`, valid over the given unix times.
    public static func make(authority: AuthorityKeyPair, validFrom: UInt32, notValidAfter: UInt32) throws(AppSupportError) -> ServerKeyFile {
        let identity: NoiseResponder.Identity
        do { identity = try .makePersistent(authority: authority, validFrom: validFrom, notValidAfter: notValidAfter) } catch {
            throw .certificate("cannot make a server key: \(error)")
        }
        return ServerKeyFile(
            authority: authority.publicKey, secretKey: identity.persistentSecretKey!,
            certificate: identity.persistentCertificate!)
    }

    /// The file's text.
    public func render(comment: [String]) -> String {
        KeyFileText.render(comment: comment, entries: [
            ("authority-public-key", authority.base58Check), ("server-static-secret-key", Sv2Hex.encode(secretKey)),
            ("server-certificate", Sv2Hex.encode(certificate.encoded)),
        ])
    }

    /// Writes a new file (never overwrites).
    public func create(_ path: String, comment: [String]) throws(AppSupportError) {
        try SecretFile.create(path, contents: Array(render(comment: comment).utf8))
    }

    /// Reads `path` (refused when other users can access it) and checks the certificate: signed by the listed
    /// authority for this static key, and valid at unix time `now`.
    public static func load(_ path: String, now: UInt64) throws(AppSupportError) -> ServerKeyFile {
        let entries = try KeyFileText.parse(String(decoding: try SecretFile.read(path), as: UTF8.self), path: path)
        func entry(_ name: String) throws(AppSupportError) -> String {
            guard let value = entries[name] else { throw .malformedKeyFile(path: path, reason: "no `\(name)` entry") }
            return value
        }
        let authority: AuthorityPublicKey
        do { authority = try AuthorityPublicKey(base58Check: try entry("authority-public-key")) } catch {
            throw .malformedKeyFile(path: path, reason: "`authority-public-key` is not a valid public key")
        }
        guard let secretKey = Sv2Hex.decode(try entry("server-static-secret-key")), secretKey.count == 32,
              let staticKey = try? AuthorityKeyPair(secretKey: secretKey)
        else { throw .invalidKey(source: "\(path): server-static-secret-key") }
        guard let encoded = Sv2Hex.decode(try entry("server-certificate")), encoded.count == Sv2Certificate.encodedSize,
              let certificate = try? encoded.withUnsafeBytes({ (raw) throws(Sv2NoiseError) in try Sv2Certificate(decoding: raw) })
        else { throw .malformedKeyFile(path: path, reason: "`server-certificate` is not a \(Sv2Certificate.encodedSize)-byte certificate in hex") }
        do {
            try certificate.verify(serverStaticXOnly: staticKey.publicKey.xOnly, authorityKey: authority, now: now)
        } catch {
            throw .certificate("\(path): the certificate cannot be used: \(error) (make a new one with `sv2 keys certificate`)")
        }
        return ServerKeyFile(authority: authority, secretKey: secretKey, certificate: certificate)
    }

    /// The Noise identity presenting this key and certificate.
    public func identity() throws(AppSupportError) -> NoiseResponder.Identity {
        do { return try .persistentStaticKey(secretKey: secretKey, certificate: certificate) } catch {
            throw .certificate("cannot use the server key: \(error)")
        }
    }
}

// The static secret key never reaches a log line or a test failure message through the default reflection.
extension ServerKeyFile: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Public parts only.
    public var description: String {
        "ServerKeyFile(authority \(authority), static key <redacted>, certificate valid \(certificate.validFrom)...\(certificate.notValidAfter))"
    }
    /// Same as ``description``.
    public var debugDescription: String { description }
    /// The description only.
    public var customMirror: Mirror { Mirror(self, children: ["serverKey": description]) }
}
