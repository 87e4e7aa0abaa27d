import Foundation
import Reactor
import Sv2Pool
import Sv2Noise
import Sv2Service
import Sv2Translator

/// One translator test's loop and everything on it: the pools, translators and peers it starts are kept alive until
/// `stop()` (loop callbacks hold them weakly), which stops the loop first.
///
/// ```swift
/// let bed = try TranslatorTestBed(.epoll)
/// defer { bed.stop() }
/// let (service, translator) = try bed.startPoolAndTranslator()
/// ```
final class TranslatorTestBed {
    let runner: LoopRunner
    private let kept = Box<[AnyObject]>([])
    private let stopWait: Double

    /// A loop on `backend`; `stopWait`: seconds `stop()` waits for its thread (many connections take longer).
    init(_ backend: ReactorBackend, stopWait: Double = 5) throws {
        runner = try LoopRunner(backend)
        self.stopWait = stopWait
    }

    /// Stops the loop, then lets go of what it kept.
    func stop() {
        runner.stop(wait: stopWait)
    }

    /// Keeps `objects` alive until `stop()`.
    func keep(_ objects: AnyObject...) { kept.value += objects }

    /// A test pool (see `startTestPool`), kept.
    func startPool(
        authority: AuthorityKeyPair? = nil, nbits: UInt32 = 0x1f00_ffff, reservedExtranonceIDs: UInt64 = 0,
        at address: SocketAddress = loopback, configure: (inout PoolConfiguration) -> Void = { _ in }
    ) throws -> PoolService {
        let service = try startTestPool(
            runner, authority: authority, nbits: nbits, reservedExtranonceIDs: reservedExtranonceIDs, at: address,
            configure: configure)
        keep(service)
        return service
    }

    /// A translator in front of `service` (see `startTestTranslator`), kept.
    func startTranslator(
        pool service: PoolService, authority: AuthorityKeyPair? = nil,
        configure: (inout TranslatorConfiguration) -> Void = { _ in }
    ) throws -> Sv2Translator {
        let translator = try startTestTranslator(runner, pool: service, authority: authority, configure: configure)
        keep(translator)
        return translator
    }

    /// The usual start: a test pool and a translator in front of it (Noise between them when `authority` is given).
    func startPoolAndTranslator(
        authority: AuthorityKeyPair? = nil, nbits: UInt32 = 0x1f00_ffff,
        pool configurePool: (inout PoolConfiguration) -> Void = { _ in },
        translator configureTranslator: (inout TranslatorConfiguration) -> Void = { _ in }
    ) throws -> (PoolService, Sv2Translator) {
        let service = try startPool(authority: authority, nbits: nbits, configure: configurePool)
        let translator = try startTranslator(pool: service, authority: authority, configure: configureTranslator)
        return (service, translator)
    }

    /// Two pools in order of preference and a translator mining on the first, retrying every 50–200 ms.
    struct Failover {
        /// The first pool, which the translator is on.
        let first: PoolService
        /// The second pool, or `nil` while nothing serves its address (see `startFailover(secondServing:)`).
        let second: PoolService?
        /// The second pool's address.
        let secondAddress: SocketAddress
        /// The translator's upstreams: the first pool, then the second.
        let endpoints: [Endpoint]
        let translator: Sv2Translator
    }

    /// The fail-over set-up. Both pools' blocks are out of reach (one chain tip each). With `secondServing: false`
    /// the second address is taken and left unserved, so an outage lasts until the test starts a pool there
    /// (`startPool(at: failover.secondAddress)`).
    func startFailover(
        secondServing: Bool, translator configure: (inout TranslatorConfiguration) -> Void = { _ in }
    ) throws -> Failover {
        let first = try startPool(nbits: 0x1d00_ffff)
        let second: PoolService?
        let secondAddress: SocketAddress
        if secondServing {
            let running = try startPool(nbits: 0x1d00_ffff)
            second = running
            secondAddress = try runner.sync { running.localAddress! }
        } else {
            secondAddress = try unservedAddress()
            second = nil
        }
        let endpoints = [Endpoint(try runner.sync { first.localAddress! }), Endpoint(secondAddress)]
        let translator = try startTranslator(pool: first) {
            configure(&$0)
            $0.upstreamEndpoints = endpoints
            $0.reconnectPolicy = ReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))
        }
        return Failover(
            first: first, second: second, secondAddress: secondAddress, endpoints: endpoints, translator: translator)
    }

    /// A loopback address nothing serves, for a pool the test starts later. Its port lies below the kernel's
    /// ephemeral range: a port the kernel handed out and took back can be given to one of the test's own outgoing
    /// connections before the test serves it again ("Address already in use", seen once under load). Probed by
    /// starting (and stopping) a pool there; bounded.
    func unservedAddress() throws -> SocketAddress {
        let ephemeralLow = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32_768
        if ephemeralLow > 11_024 {
            for _ in 0..<50 {
                let port = UInt16(Int.random(in: (ephemeralLow - 10_000)..<ephemeralLow))
                let address = try SocketAddress(ip: "127.0.0.1", port: port)
                guard let probe = try? startPool(at: address) else { continue }
                try runner.sync { probe.stop() }
                return address
            }
        }
        // No room below the range (or every probe taken): the old way, an ephemeral port released at once.
        let placeholder = try startPool()
        let address = try runner.sync { placeholder.localAddress! }
        try runner.sync { placeholder.stop() }
        return address
    }
}
