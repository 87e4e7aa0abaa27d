import CSecp256k1
import Testing

/// BIP324 ElligatorSwift vectors against the C field/EllSwift code in CSecp256k1.
@Suite struct EllSwiftTests {
    @Test func decodeVectors() throws {
        let rows = try TestData.csv("ellswift_decode_test_vectors")
        #expect(rows.count == 76)
        for row in rows {
            let ell = TestData.bytes(row["ellswift"]!)
            var x = [UInt8](repeating: 0, count: 32)
            cshims_xswiftec_decode(ell, &x)
            #expect(TestData.hex(x) == row["x"]!, "\(row["comment"] ?? "")")
        }
    }

    @Test func inverseVectors() throws {
        let rows = try TestData.csv("xswiftec_inv_test_vectors")
        #expect(rows.count == 32)
        var solutions = 0, failures = 0
        for row in rows {
            let u = TestData.bytes(row["u"]!), x = TestData.bytes(row["x"]!)
            for c in 0..<8 {
                let expected = row["case\(c)_t"]!
                var t = [UInt8](repeating: 0, count: 32)
                let ok = cshims_xswiftec_inv(&t, x, u, Int32(c))
                if expected.isEmpty {
                    #expect(ok == 0, "case \(c): \(row["comment"] ?? "")")
                    failures += 1
                } else {
                    #expect(ok == 1, "case \(c): \(row["comment"] ?? "")")
                    #expect(TestData.hex(t) == expected, "case \(c): \(row["comment"] ?? "")")
                    // Every solution must decode back to x.
                    var back = [UInt8](repeating: 0, count: 32)
                    cshims_xswiftec_decode(u + t, &back)
                    #expect(back == x)
                    solutions += 1
                }
            }
        }
        #expect(solutions > 0 && failures > 0)
    }

    @Test func ecdhSharedSecretVectors() throws {
        let rows = try TestData.csv("packet_encoding_test_vectors")
        #expect(rows.count == 7)
        let ctx = cshims_secp_context()
        for row in rows {
            let sk = TestData.bytes(row["in_priv_ours"]!)
            let ours = TestData.bytes(row["in_ellswift_ours"]!)
            let theirs = TestData.bytes(row["in_ellswift_theirs"]!)
            let initiating = row["in_initiating"]! == "1"
            var x = [UInt8](repeating: 0, count: 32)
            cshims_xswiftec_decode(theirs, &x)
            #expect(TestData.hex(x) == row["mid_x_theirs"]!)
            cshims_xswiftec_decode(ours, &x)
            #expect(TestData.hex(x) == row["mid_x_ours"]!)
            var out = [UInt8](repeating: 0, count: 32)
            let ok = initiating
                ? cshims_ellswift_xdh(ctx, &out, ours, theirs, sk, 0)
                : cshims_ellswift_xdh(ctx, &out, theirs, ours, sk, 1)
            #expect(ok == 1)
            #expect(TestData.hex(out) == row["mid_shared_secret"]!)
        }
    }

    /// libsecp256k1's deterministic encoder (rnd32 = 0) must reproduce the encodings of the
    /// notes §3.3 handshake vector, which were produced by libsecp256k1's ellswift module.
    @Test(arguments: [
        ("a02ce5cb76e3f5dd6dbf8800b8d5c25c63c05ba7accd0f6d8b8824692530673a",
         "5da7d832b9a87d5104190770ffe9de3871f16c65cec781b02e3768d321ed3f52c1ac7697e8b48c45c767f716cc050472c858c5db386f548241d568f46bd99a0e"),
        ("faaf44fb75419120f18ac615e41d421d9bc8e3162e076294aaf43819688f2a13",
         "560bb8ce355a6d382fa31f355ec9c03ca0dcd33083cfd460c45b5d27b322dd1b19307a8dc426eb50f632f2921caaa9f867f1dc8419218b5d1c78058c8301c3c2"),
        ("6886e40246931a80a175e302b942835fc4c8fdfe2f049fb19a057ee6a464ef54",
         "1ffa22843344518c7d6e61de22d4b08576f14c0d8a2980760f71568c11304a4bdecaa4f7f7691577ee56b32525e4a950a7dc61f11851a262064089322e2e1ab6"),
    ])
    func deterministicEncoding(secretKey: String, expected: String) throws {
        let ctx = cshims_secp_context()
        var pub = secp256k1_pubkey()
        #expect(secp256k1_ec_pubkey_create(ctx, &pub, TestData.bytes(secretKey)) == 1)
        var ell = [UInt8](repeating: 0, count: 64)
        #expect(cshims_ellswift_encode(ctx, &ell, &pub, [UInt8](repeating: 0, count: 32)) == 1)
        #expect(TestData.hex(ell) == expected)
    }

    /// Random keys and randomness: the encoding always decodes back to the key's x.
    @Test func encodeRoundTrip() throws {
        let ctx = cshims_secp_context()
        for _ in 0..<64 {
            var sk = [UInt8](repeating: 0, count: 32), rnd = [UInt8](repeating: 0, count: 32)
            #expect(cshims_random_bytes(&sk, 32) == 1)
            #expect(cshims_random_bytes(&rnd, 32) == 1)
            var pub = secp256k1_pubkey()
            guard secp256k1_ec_pubkey_create(ctx, &pub, sk) == 1 else { continue }
            var ell = [UInt8](repeating: 0, count: 64)
            #expect(cshims_ellswift_encode(ctx, &ell, &pub, rnd) == 1)
            var ser = [UInt8](repeating: 0, count: 33)
            var len = 33
            #expect(secp256k1_ec_pubkey_serialize(ctx, &ser, &len, &pub, UInt32(SECP256K1_EC_COMPRESSED)) == 1)
            var x = [UInt8](repeating: 0, count: 32)
            cshims_xswiftec_decode(ell, &x)
            #expect(x == Array(ser[1...]))
        }
    }
}
