import ArgumentParser
import Foundation
import Reactor
import Sv2AppSupport
import Sv2Bitcoin
import Sv2JobDeclaration
import Sv2Noise

/// The Job Declaration part of `sv2 pool` / `sv2 jd-server`, resolved from flags, the config file and defaults.
struct PoolJobDeclarationSettings {
    /// Where the sibling JD server listens (`nil`: none in this process).
    var listenAddress: SocketAddress?
    /// Blocks per subsidy halving for the payout check's subsidy floor (`nil`: no floor).
    var halvingInterval: UInt32?
    /// The public key of a JD server in another process whose signed tokens the pool takes (`nil`: none).
    var remoteAuthority: AuthorityPublicKey?
    /// With ``remoteAuthority``: the used-token journal, `used-mining-job-tokens` in the data directory (a restarted
    /// pool keeps refusing the tokens used before).
    var usedTokenJournal: String?
    /// The key the sibling JD server signs its tokens with (with a JD server only): the pool's authority key, or
    /// without one (`--no-noise`, `--server-key-file`) the data directory's `jd-server-token-secret-key`.
    var signingKey: AuthorityKeyPair?
    /// Where ``signingKey`` came from (never the key).
    var signingKeyOrigin: String?

    /// Whether the pool takes custom jobs (`REQUIRES_WORK_SELECTION`) at all.
    var acceptsCustomJobs: Bool { listenAddress != nil || remoteAuthority != nil }

    /// With ``remoteAuthority``: the check of its tokens for a pool paying `payoutScript` (one for every loop of the
    /// pool), starting from the ids `journal` holds from before, so tokens spent before a restart stay refused.
    func tokenVerifier(payoutScript: [UInt8], journal: UsedTokenJournal?) -> MiningJobTokenVerifier? {
        remoteAuthority.map { authority in
            MiningJobTokenVerifier(
                authority: authority, poolOutputs: [TxOutput(value: 0, script: payoutScript)],
                halvingInterval: halvingInterval, journal: journal)
        }
    }
}

extension PoolCommand {
    /// The Job Declaration settings; `listenDefault` is `sv2 jd-server`'s JD address (`nil` for `sv2 pool`).
    func jobDeclarationSettings(
        _ file: ConfigFile, listenDefault: String?, pool settings: Settings,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> PoolJobDeclarationSettings {
        let address = try (try file.optionalString(jdListen, "jd-listen") ?? listenDefault)
            .map { try socketAddress($0, option: "jd-listen") }
        var embeddedSource = false
        if case .embedded = settings.templateSource { embeddedSource = true }
        let halving = try file.int(
            jdHalvingInterval.map(Int.init), "jd-halving-interval", default: embeddedSource ? 150 : 0)
        guard (0...Int(UInt32.max)).contains(halving) else {
            throw ValidationError("--jd-halving-interval must be 0 (no subsidy floor) or a number of blocks")
        }
        var resolved = PoolJobDeclarationSettings(
            listenAddress: address, halvingInterval: halving == 0 ? nil : UInt32(halving))
        if let text = try file.optionalString(jdsAuthorityKey, "jds-authority-key") {
            // One check per pool: its own JD server's records, or a remote JD server's signatures.
            guard address == nil else {
                throw ValidationError("--jds-authority-key is for a pool without its own JD server (no --jd-listen, not `sv2 jd-server`)")
            }
            do { resolved.remoteAuthority = try AuthorityPublicKey(base58Check: text) } catch {
                throw ValidationError("--jds-authority-key must be a base58check authority public key (as `sv2 jd-server` prints it)")
            }
            // Spent token ids must survive a restart: the data directory (created now) holds them.
            resolved.usedTokenJournal = try serverKeys.dataDirectory(file, environment: environment)
                .file(UsedTokenJournal.fileName)
        }
        guard address != nil else { return resolved }
        if let pair = settings.server.noise?.authorityKeyPair {
            resolved.signingKey = pair
            resolved.signingKeyOrigin = "the pool's authority key"
            return resolved
        }
        // No authority key at hand: a key of its own, kept so that remote pools stay configured across restarts.
        let dataPath = try serverKeys.dataDirectoryPath(file, environment: environment)
        do throws(AppSupportError) {
            let secret = try AuthoritySecret.resolve(
                argument: nil, file: nil, environment: environment,
                dataDirectoryFile: { () throws(AppSupportError) -> String in
                    try DataDirectory(path: dataPath).file("jd-server-token-secret-key")
                } as () throws(AppSupportError) -> String,
                comment: ["sv2 jd-server mining job token signing key (keep this file secret: mode 600).",
                          "Pools taking this JD server's tokens are configured with its public key (--jds-authority-key)."])
            resolved.signingKey = secret.pair
            resolved.signingKeyOrigin = secret.originDescription
        } catch {
            throw ValidationError("job declaration token key: \(error)")
        }
        return resolved
    }
}
