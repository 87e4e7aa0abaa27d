import ArgumentParser
import Foundation
import Logging
import Sv2AppSupport
import Sv2Codec
import Sv2Noise

/// `sv2 keys`: authority keys and server certificates for Noise, written to files (mode 600), never printed unless
/// asked to.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate an authority key pair and server certificates for Noise (written to mode-600 files).",
        discussion: """
            The authority key is a pool's long-term identity: miners and proxies pin its public key \
            (SRI's base58check form, e.g. `9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh`). Servers prove they \
            speak for it with a certificate signed by the authority secret key.

            Secrets go to files created mode 600 (never overwritten); only public keys are printed, unless \
            --print-secret asks for the secret on stdout.
            """,
        subcommands: [Authority.self, Certificate.self, Show.self],
        defaultSubcommand: Authority.self
    )

    /// The authority secret key from `--authority-secret-key-file`, `$SV2_AUTHORITY_SECRET_KEY` or
    /// `--authority-secret-key` (with a warning).
    struct AuthorityInput: ParsableArguments {
        @Option(name: .long, help: "File with the authority secret key (from `sv2 keys authority`; mode 600).")
        var authoritySecretKeyFile: String?

        @Option(name: .long, help: "The authority secret key (base58check); visible in ps — prefer the file or $\(AuthoritySecret.environmentVariable).")
        var authoritySecretKey: String?

        func pair(environment: [String: String]) throws -> AuthorityKeyPair {
            do {
                let secret = try AuthoritySecret.resolve(
                    argument: authoritySecretKey, file: authoritySecretKeyFile, environment: environment,
                    dataDirectoryFile: { () throws(AppSupportError) -> String in
                        throw .conflictingOptions(
                            "give the authority secret key: --authority-secret-key-file FILE, "
                            + "$\(AuthoritySecret.environmentVariable) or --authority-secret-key")
                    } as () throws(AppSupportError) -> String, comment: [])
                if authoritySecretKey != nil { warn(AuthoritySecret.argumentWarning) }
                return secret.pair
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    /// `sv2 keys authority`.
    struct Authority: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a new authority key pair into a file (mode 600) and print its public key.")

        @Option(name: .long, help: "File to create (never overwritten; default authority-secret-key).")
        var out = "authority-secret-key"

        @Flag(name: .long, help: "Print the secret key on stdout as TOML instead of writing a file.")
        var printSecret = false

        /// What `run` prints: the public key and the file, or with `--print-secret` the whole pair.
        func execute() throws -> String {
            let pair = try AuthorityKeyPair.generate()
            let comment = [
                "Authority key pair generated \(Date()).",
                "Give authority-public-key to miners and proxies; keep this secret on the pool only.",
            ]
            if printSecret { return AuthorityKeyFile.render(pair, comment: comment) }
            do { try AuthorityKeyFile.create(out, pair: pair, comment: comment) } catch {
                throw ValidationError("\(error)")
            }
            return """
                authority-public-key = "\(pair.publicKey.base58Check)"
                # secret key written to \(out) (mode 600): `sv2 pool --authority-secret-key-file \(out)`
                """
        }

        func run() throws { print(try execute()) }
    }

    /// `sv2 keys certificate`.
    struct Certificate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a persistent server static key with a certificate signed by the authority (mode-600 file).",
            discussion: """
                The file is what `sv2 pool --server-key-file FILE` (and `sv2 proxy`) load: the server then presents \
                this key and certificate, and the authority secret key can stay offline. Servers can instead sign a \
                fresh certificate per connection with the authority key (the default, as SRI does); a persistent key \
                is what the C++ Template Provider uses. Make a new file before the certificate expires.
                """)

        @OptionGroup var authority: AuthorityInput

        @Option(name: .long, help: "Validity in days from now (1…\(CertificateValidity.maxDays); default 365).")
        var validDays: UInt32 = 365

        @Option(name: .long, help: "File to create (never overwritten; default server-key).")
        var out = "server-key"

        @Flag(name: .long, help: "Print the server secret key and certificate on stdout instead of writing a file.")
        var printSecret = false

        /// The key and certificate (validity checked: no 32-bit overflow, never a trap).
        func make(environment: [String: String], now: UInt64) throws -> ServerKeyFile {
            let pair = try authority.pair(environment: environment)
            do {
                let window = try CertificateValidity.window(now: now, days: UInt64(validDays))
                return try ServerKeyFile.make(authority: pair, validFrom: window.validFrom, notValidAfter: window.notValidAfter)
            } catch {
                throw ValidationError("\(error)")
            }
        }

        /// What `run` prints.
        func execute(environment: [String: String], now: UInt64) throws -> String {
            let key = try make(environment: environment, now: now)
            let comment = ["Server static key and certificate (valid \(validDays) days), signed by \(key.authority)."]
            if printSecret { return key.render(comment: comment) }
            do { try key.create(out, comment: comment) } catch { throw ValidationError("\(error)") }
            return """
                authority-public-key = "\(key.authority.base58Check)"
                # server key and certificate written to \(out) (mode 600), valid \(validDays) days: \
                `sv2 pool --server-key-file \(out)`
                """
        }

        func run() throws {
            print(try execute(environment: ProcessInfo.processInfo.environment, now: UInt64(Date().timeIntervalSince1970)))
        }
    }

    /// `sv2 keys show`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the public key of an authority secret key.")

        @OptionGroup var authority: AuthorityInput

        @Argument(help: "The authority secret key (the old form, visible in ps; also kept so that it is never echoed back as an unexpected argument).")
        var secretKey: String?

        func run() throws {
            var authority = authority
            if let secretKey {
                guard authority.authoritySecretKey == nil else {
                    throw ValidationError("give the authority secret key once")
                }
                authority.authoritySecretKey = secretKey
            }
            let pair = try authority.pair(environment: ProcessInfo.processInfo.environment)
            print("authority-public-key = \"\(pair.publicKey.base58Check)\"")
        }
    }

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
    }
}

private func warn(_ text: String) { KeysCommand.warn(text) }
