import ArgumentParser
import Sv2Bitcoin
import Sv2Codec
import Sv2Pool
import Sv2TemplateProvider

/// Where an app that builds its own templates (`sv2 pool`, `sv2 jd-client`) gets them, and whom its coinbase pays:
/// Template Providers in order of preference (`--tp`, e.g. Bitcoin Core's sv2-tp) or, without any, the embedded
/// regtest-style source. A config file may give every option as a key of the same name.
struct TemplateSourceOptions: ParsableArguments {
    @Option(name: .long, help: "Template Provider address (host:port; repeat for fail-over in order of preference); omit to use the embedded template source.")
    var tp: [String] = []

    @Option(name: .long, help: "The Template Provider's authority public key (base58check).")
    var tpAuthorityKey: String?

    @Flag(name: .long, help: "Connect to the Template Provider without Noise.")
    var tpNoNoise = false

    @Option(name: .long, help: "Payout scriptPubKey in hex (required with --tp; embedded source default 51 = OP_TRUE).")
    var payoutScript: String?

    @Option(name: .long, help: "Embedded source only: nbits of its blocks, hex (default 1d3fffff: a few CPU threads find one every several seconds).")
    var nbits: String?

    /// The config-file keys of these options.
    static let keys: Set<String> = ["tp", "tp-authority-key", "tp-no-noise", "payout-script", "nbits"]

    /// The Template Providers (flags, else the file's `tp`, a string or an array of strings); empty: the embedded
    /// source.
    func providers(_ file: ConfigFile) throws -> [String] { try file.strings(tp, "tp") }

    /// The payout scriptPubKey. Required with a Template Provider: the default (51, OP_TRUE) pays whoever spends it
    /// first, fine for the embedded regtest-style source and never on a real network.
    func payoutScript(_ file: ConfigFile) throws -> [UInt8] {
        let text = try file.optionalString(payoutScript, "payout-script")
        if text == nil, !(try providers(file)).isEmpty {
            throw ValidationError(
                "--payout-script is required with --tp: the default (51, OP_TRUE) would let anyone take the block reward; "
                + "give the payout scriptPubKey in hex, e.g. 0014<20-byte key hash> for P2WPKH")
        }
        guard let script = Sv2Hex.decode(text ?? "51"), !script.isEmpty else {
            throw ValidationError("--payout-script must be non-empty hex")
        }
        return script
    }

    /// The template source: fail-over over the Template Providers (their security from `--tp-authority-key` /
    /// `--tp-no-noise`), or the embedded source with its default configuration and `--nbits`. The caller sets what
    /// else the embedded source takes (e.g. its refresh interval).
    func source(_ file: ConfigFile) throws -> PoolService.TemplateSource {
        let providers = try providers(file)
        guard providers.isEmpty else {
            return .failover(
                endpoints: try providers.map { try endpoint($0, option: "tp") },
                security: try clientSecurity(
                    authorityKey: try file.optionalString(tpAuthorityKey, "tp-authority-key"),
                    noNoise: try file.bool(tpNoNoise ? true : nil, "tp-no-noise", default: false),
                    option: "tp-authority-key"))
        }
        var embedded = EmbeddedTemplateProvider.Configuration()
        embedded.source.nbits = try Self.compactTarget(try file.string(nbits, "nbits", default: "1d3fffff"))
        return .embedded(embedded)
    }

    /// `--nbits` as a compact target (hex): refused unless it decodes to a valid target.
    static func compactTarget(_ text: String) throws -> UInt32 {
        guard let bits = UInt32(text, radix: 16), Target(compact: bits) != nil else {
            throw ValidationError("--nbits must be a valid compact target in hex, e.g. 1d3fffff or 207fffff")
        }
        return bits
    }
}
