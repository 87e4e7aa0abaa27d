// Sv2Noise costs: AEAD (our C fast path vs OpenSSL EVP vs ChaChaPolyCipher vs swift-crypto), responder
// handshakes vs the cost floor of the secp256k1 work they must do, and allocation counts.
import Benchmark
import CCrypto
import CSecp256k1
import Crypto
import Sv2Noise

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput]
    let config = Benchmark.Configuration(metrics: metrics, maxDuration: .seconds(2), maxIterations: 1_000_000)
    // AEAD calls are sub-microsecond: time 1000 per sample (figures are reported per call).
    let aeadConfig = Benchmark.Configuration(
        metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 100_000)

    // MARK: ChaCha20-Poly1305 seal + open, in place, nonce incremented per message (as the transport
    // does), 16 B of AD. Sizes are plaintext bytes: 6 = a frame header (22 B sealed), 24 = a share
    // payload (40 B sealed), so one share frame is the 6 + 24 pair. Four implementations, same run:
    // the C fast path alone, OpenSSL EVP alone, ChaChaPolyCipher (picks by size) and swift-crypto.
    let ad = [UInt8](repeating: 0xad, count: 16)
    for size in [6, 22, 24, 40, 64, 192, 256, 512, 1024, 16 * 1024] {
        func inPlace(_ name: String, _ sealOpen: @escaping (UInt64, UnsafeMutablePointer<UInt8>) -> Bool) {
            Benchmark("AEAD seal+open \(size) B — \(name)", configuration: aeadConfig) { benchmark in
                let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size + 16)
                defer { buffer.deallocate() }
                buffer.initialize(repeating: 0x5a, count: size + 16)
                var nonce: UInt64 = 0
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    precondition(sealOpen(nonce, buffer))
                    nonce &+= 1
                }
                benchmark.stopMeasurement()
                blackHole(buffer[0])
            }
        }
        func withIV<R>(_ n: UInt64, _ body: (UnsafePointer<UInt8>) -> R) -> R {
            var iv: (UInt64, UInt64) = (0, 0)  // Noise nonce: 00000000 ‖ LE64(n)
            return withUnsafeMutableBytes(of: &iv) { raw in
                raw.storeBytes(of: n.littleEndian, toByteOffset: 4, as: UInt64.self)
                return body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        let key = [UInt8](repeating: 7, count: 32)
        // Contexts live for the whole process (one per size), so they are never freed.
        let fast = UnsafeMutablePointer<cshims_chachapoly>.allocate(capacity: 1)
        cshims_chachapoly_init(fast, key)
        inPlace("C fast path (chachapoly_shims)") { n, buf in
            withIV(n) { iv in
                cshims_chachapoly_seal(fast, iv, ad, ad.count, buf, size) == 1
                    && cshims_chachapoly_open(fast, iv, ad, ad.count, buf, size) == 1
            }
        }
        let evp = cshims_aead_new(key)!
        inPlace("OpenSSL EVP (crypto_shims)") { n, buf in
            withIV(n) { iv in
                cshims_aead_seal(evp, iv, ad, ad.count, buf, size) == 1
                    && cshims_aead_open(evp, iv, ad, ad.count, buf, size) == 1
            }
        }
        let cipher = ChaChaPolyCipher(key: key)
        inPlace("ChaChaPolyCipher (fast path ≤ \(ChaChaPolyCipher.fastPathLimit) B, else EVP)") { n, buf in
            ad.withUnsafeBytes { a in
                let raw = UnsafeMutableRawBufferPointer(start: buf, count: size + 16)
                cipher.seal(nonce: n, associatedData: a, inPlace: raw, plaintextLength: size)
                return cipher.open(nonce: n, associatedData: a, inPlace: raw, plaintextLength: size)
            }
        }
        Benchmark("AEAD seal+open \(size) B — swift-crypto ChaChaPoly", configuration: aeadConfig) { benchmark in
            let key = SymmetricKey(data: key)
            let plaintext = [UInt8](repeating: 0x5a, count: size)
            var nonce: UInt64 = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var iv = [UInt8](repeating: 0, count: 4)
                withUnsafeBytes(of: nonce.littleEndian) { iv.append(contentsOf: $0) }
                let box = try ChaChaPoly.seal(plaintext, using: key, nonce: ChaChaPoly.Nonce(data: iv), authenticating: ad)
                blackHole(try ChaChaPoly.open(box, using: key, authenticating: ad))
                nonce &+= 1
            }
            benchmark.stopMeasurement()
        }
    }

    // MARK: Handshakes.
    let authority = try! AuthorityKeyPair.generate()
    var actOne = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
    var initiator = try! NoiseInitiator(authorityKey: authority.publicKey)
    try! actOne.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }

    func responderBenchmark(_ name: String, identity: NoiseResponder.Identity) {
        Benchmark(name, configuration: config) { benchmark in
            var actTwo = [UInt8](repeating: 0, count: NoiseResponder.actTwoSize)
            for _ in benchmark.scaledIterations {
                var responder = try NoiseResponder(identity: identity)
                try actOne.withUnsafeBytes { a1 in
                    try actTwo.withUnsafeMutableBytes { out in
                        let session = try responder.respond(toActOne: a1, into: out)
                        blackHole(session.sendNonce)
                    }
                }
            }
        }
    }
    responderBenchmark(
        "Handshake responder — fresh static key + certificate per connection (SRI)",
        identity: .freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600))
    responderBenchmark(
        "Handshake responder — persistent static key (sv2-tp)",
        identity: try! .makePersistent(authority: authority, validFrom: 0, notValidAfter: .max))

    Benchmark("Handshake initiator — reading act 2 incl. certificate check", configuration: config) { benchmark in
        let identity = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600)
        var a1 = [UInt8](repeating: 0, count: 64), a2 = [UInt8](repeating: 0, count: 234)
        // Default scaling: one handshake per sample, so setup can sit outside start/stop.
        for _ in benchmark.scaledIterations {
            var client = try NoiseInitiator(authorityKey: authority.publicKey)
            try a1.withUnsafeMutableBytes { try client.writeActOne(into: $0) }
            var server = try NoiseResponder(identity: identity)
            try a1.withUnsafeBytes { p in try a2.withUnsafeMutableBytes { _ = try server.respond(toActOne: p, into: $0) } }
            // Measure only act 2 on the client side; act 1 cost is one key generation + one encoding.
            benchmark.startMeasurement()
            try a2.withUnsafeBytes { blackHole(try client.readActTwo($0).receiveNonce) }
            benchmark.stopMeasurement()
        }
    }

    // MARK: Cost floor: 3 × secp256k1_ecdh + 1 key generation, straight libsecp256k1.
    Benchmark("Cost floor — 3× secp256k1_ecdh + 1 pubkey generation", configuration: config) { benchmark in
        let ctx = cshims_secp_context()
        var sk = [UInt8](repeating: 0, count: 32)
        _ = cshims_random_bytes(&sk, 32)
        var peer = secp256k1_pubkey()
        _ = secp256k1_ec_pubkey_create(ctx, &peer, sk)
        var out = [UInt8](repeating: 0, count: 32)
        for _ in benchmark.scaledIterations {
            var pub = secp256k1_pubkey()
            _ = secp256k1_ec_pubkey_create(ctx, &pub, sk)
            for _ in 0..<3 { _ = secp256k1_ecdh(ctx, &out, &peer, sk, nil, nil) }
            blackHole(out[0])
            sk[0] &+= 1
        }
    }

    // MARK: Building blocks (to explain the handshake figures).
    Benchmark("EllSwift encode (deterministic libsecp256k1 choice)", configuration: config) { benchmark in
        let ctx = cshims_secp_context()
        var sk = [UInt8](repeating: 0, count: 32), rnd = [UInt8](repeating: 0, count: 32)
        _ = cshims_random_bytes(&sk, 32)
        var pub = secp256k1_pubkey()
        _ = secp256k1_ec_pubkey_create(ctx, &pub, sk)
        var ell = [UInt8](repeating: 0, count: 64)
        for _ in benchmark.scaledIterations {
            _ = cshims_ellswift_encode(ctx, &ell, &pub, rnd)
            rnd[0] &+= 1
        }
        blackHole(ell[0])
    }
    Benchmark("EllSwift decode", configuration: config) { benchmark in
        var ell = [UInt8](repeating: 0, count: 64), x = [UInt8](repeating: 0, count: 32)
        _ = cshims_random_bytes(&ell, 64)
        for _ in benchmark.scaledIterations {
            cshims_xswiftec_decode(ell, &x)
            ell[63] &+= 1
        }
        blackHole(x[0])
    }
    Benchmark("BIP324 x-only ECDH (decode + secp256k1_ecdh + tagged hash)", configuration: config) { benchmark in
        let ctx = cshims_secp_context()
        var a = [UInt8](repeating: 0, count: 64), b = [UInt8](repeating: 0, count: 64)
        var sk = [UInt8](repeating: 0, count: 32), out = [UInt8](repeating: 0, count: 32)
        _ = cshims_random_bytes(&a, 64)
        _ = cshims_random_bytes(&b, 64)
        _ = cshims_random_bytes(&sk, 32)
        for _ in benchmark.scaledIterations {
            _ = cshims_ellswift_xdh(ctx, &out, a, b, sk, 1)
            a[63] &+= 1
        }
        blackHole(out[0])
    }
}
