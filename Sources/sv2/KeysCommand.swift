import ArgumentParser
import Foundation
import Sv2Codec
import Sv2Noise

/// `sv2 keys`: authority keys and server certificates for Noise.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate an authority key pair and server certificates for Noise.",
        discussion: """
            The authority key is a pool's long-term identity: miners and proxies pin its public key \
            (SRI's base58check form, e.g. `9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh`). Servers prove they \
            speak for it with a certificate signed by the authority secret key.
            """,
        subcommands: [Authority.self, Certificate.self, Show.self],
        defaultSubcommand: Authority.self
    )

    /// `sv2 keys authority`.
    struct Authority: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a new authority key pair and print it as TOML.")

        func run() throws {
            let pair = try AuthorityKeyPair.generate()
            print("""
                # Authority key pair generated \(Date()).
                # Give `authority-public-key` to miners and proxies; keep `authority-secret-key` on the pool only.
                authority-public-key = "\(pair.publicKey.base58Check)"
                authority-secret-key = "\(pair.secretKeyBase58Check)"
                """)
        }
    }

    /// `sv2 keys certificate`.
    struct Certificate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a persistent server static key with a certificate signed by the authority.",
            discussion: """
                Servers can instead sign a fresh certificate per connection (the default of `sv2 pool` when it has \
                the authority secret key, as SRI does); a persistent key is what the C++ Template Provider uses.
                """)

        @Option(name: .long, help: "The authority secret key (base58check, from `sv2 keys authority`).")
        var authoritySecretKey: String

        @Option(name: .long, help: "Validity in days from now.")
        var validDays: UInt32 = 365

        func run() throws {
            let authority = try AuthorityKeyPair(secretKeyBase58Check: authoritySecretKey)
            let now = UInt32(Date().timeIntervalSince1970)
            let identity = try NoiseResponder.Identity.makePersistent(
                authority: authority, validFrom: now, notValidAfter: now + validDays * 86_400)
            guard let secretKey = identity.persistentSecretKey, let certificate = identity.persistentCertificate else { return }
            print("""
                # Server static key and certificate (valid \(validDays) days), signed by \(authority.publicKey).
                server-static-secret-key = "\(Sv2Hex.encode(secretKey))"
                server-certificate = "\(Sv2Hex.encode(certificate.encoded))"
                """)
        }
    }

    /// `sv2 keys show`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the public key of an authority secret key.")

        @Argument(help: "The authority secret key (base58check).")
        var authoritySecretKey: String

        func run() throws {
            let authority = try AuthorityKeyPair(secretKeyBase58Check: authoritySecretKey)
            print("authority-public-key = \"\(authority.publicKey.base58Check)\"")
        }
    }
}
