import ArgumentParser
import Reactor
import Sv2Noise

/// The Job Declaration part of `sv2 pool` / `sv2 jd-server`, resolved from flags, the config file and defaults.
struct PoolJobDeclarationSettings {
    /// Where the sibling JD server listens (`nil`: none in this process).
    var listenAddress: SocketAddress?
    /// Blocks per subsidy halving for the payout check's subsidy floor (`nil`: no floor).
    var halvingInterval: UInt32?
    /// The public key of a JD server in another process whose signed tokens the pool takes (`nil`: none).
    var remoteAuthority: AuthorityPublicKey?

    /// Whether the pool takes custom jobs (`REQUIRES_WORK_SELECTION`) at all.
    var acceptsCustomJobs: Bool { listenAddress != nil || remoteAuthority != nil }
}

extension PoolCommand {
    /// The Job Declaration settings; `listenDefault` is `sv2 jd-server`'s JD address (`nil` for `sv2 pool`).
    func jobDeclarationSettings(
        _ file: ConfigFile, listenDefault: String?, embeddedSource: Bool
    ) throws -> PoolJobDeclarationSettings {
        let address = try (try file.optionalString(jdListen, "jd-listen") ?? listenDefault)
            .map { try socketAddress($0, option: "jd-listen") }
        let halving = try file.int(
            jdHalvingInterval.map(Int.init), "jd-halving-interval", default: embeddedSource ? 150 : 0)
        guard (0...Int(UInt32.max)).contains(halving) else {
            throw ValidationError("--jd-halving-interval must be 0 (no subsidy floor) or a number of blocks")
        }
        var remote: AuthorityPublicKey?
        if let text = try file.optionalString(jdsAuthorityKey, "jds-authority-key") {
            do { remote = try AuthorityPublicKey(base58Check: text) } catch {
                throw ValidationError("--jds-authority-key must be a base58check authority public key (as `sv2 jd-server` prints it)")
            }
        }
        return PoolJobDeclarationSettings(
            listenAddress: address, halvingInterval: halving == 0 ? nil : UInt32(halving), remoteAuthority: remote)
    }
}
