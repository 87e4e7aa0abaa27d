import Reactor
import Sv2Service
import Sv2Translator

/// `sv2 demo`'s Stratum V1 corner: a translator in front of the pool and CPU Sv1 devices (with version rolling)
/// behind it. The devices hash on the loop thread in short slices (a few milliseconds every 100 ms), so they are
/// slow but speak real Sv1 end to end.
final class DemoSv1 {
    let translator: Sv2Translator
    let devices: [Sv1CPUDevice]
    private let loop: EventLoop
    private var timer: TimerHandle?

    /// Hashes per device per slice: a few milliseconds of the loop in a release build.
    static let hashesPerSlice = 4_000

    init(loop: EventLoop, pool: SocketAddress, security: Sv2ClientConfiguration.Security, count: Int) throws {
        var configuration = TranslatorConfiguration(
            listenAddress: try SocketAddress(ip: "127.0.0.1", port: 0),
            upstream: Sv2ClientConfiguration(serverAddress: pool, sv2Protocol: .mining, security: security),
            userIdentity: "translator")
        configuration.deviceHashrate = 2e5  // what a slice-hashing device manages, roughly
        configuration.minimumDifficulty = 1e-7
        configuration.sharesPerMinute = 20
        configuration.vardiffWindow = 10
        configuration.upstreamHashrate = Float(2e5 * Double(count))
        translator = try Sv2Translator.start(configuration: configuration, eventLoop: loop)
        self.loop = loop
        devices = (0..<count).map { Sv1CPUDevice(eventLoop: loop, worker: "sv1rig\($0 + 1)") }
        for device in devices { device.connect(to: translator.localAddress!) }
        schedule()
    }

    private func schedule() {
        timer = loop.schedule(after: .milliseconds(100)) { [weak self] in
            guard let self else { return }
            for device in self.devices where device.isReady { device.mine(shares: 100, maxHashes: Self.hashesPerSlice) }
            self.schedule()
        }
    }

    func stop() {
        if let timer { loop.cancel(timer) }
        timer = nil
    }

    /// One line per device.
    var deviceLines: [String] {
        devices.map { device in
            let rejected = device.rejected.values.reduce(0, +)
            return "\(device.worker) (Sv1, via translator): \(device.accepted) accepted, \(rejected) rejected, "
                + "difficulty \(device.difficulties.last.map { String(format: "%.3g", $0) } ?? "-")"
        }
    }
}
