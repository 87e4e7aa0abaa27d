import Foundation
@_exported import LoopTestSupport
import Reactor
import Sv2Codec
import Sv2Pool
import Sv2TemplateProvider
import Sv2Noise
import Sv2Service
import Sv2Translator

let loopback = try! SocketAddress(ip: "127.0.0.1", port: 0)

/// Device difficulty used by the loopback tests: target ≈ 2^248, about 256 hashes per share (cheap in debug).
let testDeviceDifficulty = 6e-8

/// A pool (embedded template source, Noise when `authority` is given) whose channel target for the translator is
/// easier than the devices' difficulty, so every device share goes upstream, and whose blocks cost about 65k
/// hashes (default nbits 0x1f00ffff; 0x1d00ffff makes them out of reach) on a template with three transactions (a
/// real merkle branch).
func startTestPool(
    _ runner: LoopRunner, authority: AuthorityKeyPair?, nbits: UInt32 = 0x1f00_ffff, reservedExtranonceIDs: UInt64 = 0,
    at address: SocketAddress = loopback, configure: (inout PoolConfiguration) -> Void = { _ in }
) throws -> PoolService {
    var pool = PoolConfiguration(payoutScript: [0x51], reservedExtranonceIDs: reservedExtranonceIDs)
    pool.sharesPerMinute = 600
    pool.minimumDifficulty = 1e-9
    configure(&pool)
    let poolConfiguration = pool
    var templates = EmbeddedTemplateProvider.Configuration(refreshInterval: nil)
    templates.source.nbits = nbits
    templates.source.transactionCount = 3
    let identity = authority.map { NoiseResponder.Identity.freshStaticKeyPerConnection(authority: $0, certificateValidity: 600) }
    let service = try runner.sync {
        let service = try PoolService(
            configuration: poolConfiguration, server: Sv2ServerConfiguration(listenAddress: address, noise: identity),
            templateSource: .embedded(templates), eventLoop: runner.loop)
        try service.start()
        return service
    }
    guard try runner.wait(timeout: 30, { service.pool.chainTip != nil }) else { throw TestFailure("pool has no chain tip") }
    return service
}

/// A translator in front of `service`.
func startTestTranslator(
    _ runner: LoopRunner, pool service: PoolService, authority: AuthorityKeyPair?,
    configure: (inout TranslatorConfiguration) -> Void = { _ in }
) throws -> Sv2Translator {
    try startTestTranslator(
        runner, upstream: try runner.sync { service.localAddress! }, authority: authority, configure: configure)
}

/// A translator in front of the pool at `address`.
func startTestTranslator(
    _ runner: LoopRunner, upstream address: SocketAddress, authority: AuthorityKeyPair?,
    configure: (inout TranslatorConfiguration) -> Void = { _ in }
) throws -> Sv2Translator {
    let security: Sv2ClientConfiguration.Security = authority.map { .noise(authority: $0.publicKey) } ?? .plain
    var configuration = TranslatorConfiguration(
        listenAddress: loopback,
        upstream: Sv2ClientConfiguration(serverAddress: address, sv2Protocol: .mining, security: security),
        userIdentity: "farm-1")
    configuration.upstreamHashrate = 1_000  // the pool's target for the channel is then easier than the devices'
    configuration.minimumDifficulty = testDeviceDifficulty
    configuration.deviceHashrate = 0  // start every device at the minimum difficulty
    configure(&configuration)
    let final = configuration
    let translator = try runner.sync { try Sv2Translator.start(configuration: final, eventLoop: runner.loop) }
    // Aggregated: the shared channel has its job. Per device: channels open as devices subscribe.
    let ready = final.channelMode == .aggregated
        ? { translator.upstreamChannel?.chainTip != nil } : { translator.isUpstreamReady }
    guard try runner.wait(timeout: 30, ready) else { throw TestFailure("translator's upstream is not ready") }
    return translator
}

/// A connected Sv1 CPU device that has its extranonce, difficulty and a job.
func connectDevice(
    _ runner: LoopRunner, to translator: Sv2Translator, worker: String = "rig-1", versionMask: UInt32? = 0x1fff_e000,
    subscribesToExtranonce: Bool = false, waitUntilReady: Bool = true
) throws -> Sv1CPUDevice {
    let device = try runner.sync {
        let device = Sv1CPUDevice(
            eventLoop: runner.loop, worker: worker, versionMask: versionMask,
            subscribesToExtranonce: subscribesToExtranonce)
        device.connect(to: translator.localAddress!)
        return device
    }
    if waitUntilReady {
        guard try runner.wait(timeout: 30, { device.isReady }) else { throw TestFailure("device \(worker) never got a job") }
    }
    return device
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The test vector directory.
func vectorURL(_ name: String) throws -> URL {
    guard let url = Bundle.module.url(forResource: "Vectors/\(name)", withExtension: nil) else {
        throw TestFailure("missing vector \(name)")
    }
    return url
}
