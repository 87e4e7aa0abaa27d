public import Sv2Noise

/// A file holding an authority key pair, mode 0600:
///
/// ```
/// # sv2 authority key pair …
/// authority-public-key = "9bXiEd8…"
/// authority-secret-key = "mkDLTB…"
/// ```
///
/// (what `sv2 keys authority` writes, and what it used to print). A file holding only the base58check secret key
/// is read too.
public enum AuthorityKeyFile {
    /// The entry with the secret key.
    public static let secretKeyName = "authority-secret-key"
    /// The entry with the public key (informative; checked against the secret key when present).
    public static let publicKeyName = "authority-public-key"

    /// The file's text for `pair`.
    public static func render(_ pair: AuthorityKeyPair, comment: [String]) -> String {
        KeyFileText.render(comment: comment, entries: [
            (publicKeyName, pair.publicKey.base58Check), (secretKeyName, pair.secretKeyBase58Check),
        ])
    }

    /// Reads the key pair in `path` (refused when other users can access the file).
    public static func load(_ path: String) throws(AppSupportError) -> AuthorityKeyPair {
        let text = String(decoding: try SecretFile.read(path), as: UTF8.self)
        let secret: String
        let bare = text.split(separator: "\n").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if bare.count == 1, !bare[0].contains("=") {
            secret = String(bare[0])
        } else {
            let entries = try KeyFileText.parse(text, path: path)
            guard let value = entries[secretKeyName] else {
                throw .malformedKeyFile(path: path, reason: "no `\(secretKeyName)` entry")
            }
            secret = value
            if let listed = entries[publicKeyName] {
                let pair = try pair(secret, source: path)
                guard pair.publicKey.base58Check == listed else {
                    throw .malformedKeyFile(path: path, reason: "`\(publicKeyName)` does not match the secret key")
                }
                return pair
            }
        }
        return try pair(secret, source: path)
    }

    /// Writes a new file for `pair` (never overwrites; see ``SecretFile/create(_:contents:)``).
    public static func create(_ path: String, pair: AuthorityKeyPair, comment: [String]) throws(AppSupportError) {
        try SecretFile.create(path, contents: Array(render(pair, comment: comment).utf8))
    }

    /// The key pair in `path`, or a new one written there when the file does not exist. `created` tells which.
    public static func loadOrCreate(_ path: String, comment: [String]) throws(AppSupportError) -> (pair: AuthorityKeyPair, created: Bool) {
        if SecretFile.exists(path) { return (try load(path), false) }
        let pair: AuthorityKeyPair
        do { pair = try AuthorityKeyPair.generate() } catch { throw .invalidKey(source: "the system random number generator") }
        do throws(AppSupportError) {
            try create(path, pair: pair, comment: comment)
        } catch .alreadyExists {
            return (try load(path), false)  // another process created it meanwhile: use theirs
        }
        return (pair, true)
    }

    /// Parses base58check `text`; errors name `source`, never the text.
    public static func pair(_ text: String, source: String) throws(AppSupportError) -> AuthorityKeyPair {
        do { return try AuthorityKeyPair(secretKeyBase58Check: String(text.trimmingWhitespace())) } catch {
            throw .invalidKey(source: source)
        }
    }
}
