import CSecp256k1
import Testing

/// BIP340 vectors through libsecp256k1's schnorrsig module, which certificates rely on.
@Suite struct SchnorrTests {
    @Test func bip340Vectors() throws {
        let rows = try TestData.csv("bip340_test_vectors")
        #expect(rows.count == 19)
        let ctx = cshims_secp_context()
        var signed = 0
        for row in rows {
            let index = row["index"]!
            let message = TestData.bytes(row["message"]!)
            let signature = TestData.bytes(row["signature"]!)
            let expected = row["verification result"]! == "TRUE"
            if let skHex = row["secret key"], !skHex.isEmpty {
                var keypair = secp256k1_keypair()
                #expect(secp256k1_keypair_create(ctx, &keypair, TestData.bytes(skHex)) == 1)
                var xonly = secp256k1_xonly_pubkey()
                #expect(secp256k1_keypair_xonly_pub(ctx, &xonly, nil, &keypair) == 1)
                var pk = [UInt8](repeating: 0, count: 32)
                #expect(secp256k1_xonly_pubkey_serialize(ctx, &pk, &xonly) == 1)
                #expect(TestData.hex(pk) == row["public key"]!.lowercased(), "row \(index)")
                var aux = TestData.bytes(row["aux_rand"]!)
                var sig = [UInt8](repeating: 0, count: 64)
                let ok = aux.withUnsafeMutableBytes { auxPtr in
                    var params = secp256k1_schnorrsig_extraparams()
                    params.magic = (0xda, 0x6f, 0xb3, 0x8c)  // SECP256K1_SCHNORRSIG_EXTRAPARAMS_MAGIC
                    params.noncefp = nil
                    params.ndata = auxPtr.baseAddress
                    return secp256k1_schnorrsig_sign_custom(ctx, &sig, message, message.count, &keypair, &params)
                }
                #expect(ok == 1)
                #expect(sig == signature, "row \(index)")
                signed += 1
            }
            var xonly = secp256k1_xonly_pubkey()
            let parsed = secp256k1_xonly_pubkey_parse(ctx, &xonly, TestData.bytes(row["public key"]!)) == 1
            let verified = parsed
                && secp256k1_schnorrsig_verify(ctx, signature, message, message.count, &xonly) == 1
            #expect(verified == expected, "row \(index): \(row["comment"] ?? "")")
        }
        #expect(signed == 8)
    }
}
