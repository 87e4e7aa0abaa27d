import Testing
@testable import Sv2Bitcoin

@Suite struct TargetTests {
    @Test func bytesRoundTripAreLittleEndian() {
        var raw = [UInt8](repeating: 0, count: 32)
        raw[0] = 0x01
        raw[31] = 0x80
        let target = Target(bytes: raw)!
        #expect(target.value == UInt256(w0: 1, w1: 0, w2: 0, w3: 0x8000_0000_0000_0000))
        #expect(target.bytes == raw)
        #expect(Target(bytes: [UInt8](repeating: 0, count: 31)) == nil)
    }

    @Test func compactVectors() {
        // sv2-tp SetNewPrevHash vector: nbits 0x037fffff ⇒ target LE bytes ffff7f00…00.
        let tp = Target(compact: 0x037f_ffff)!
        #expect(hexString(tp.bytes) == "ffff7f" + String(repeating: "00", count: 29))
        // Genesis nbits is exactly difficulty 1.
        #expect(Target(compact: 0x1d00_ffff)! == .difficultyOne)
        #expect(Target.difficultyOne.description == "00000000ffff" + String(repeating: "0", count: 52))
        // Regtest: 0x7fffff · 256^29.
        #expect(Target(compact: 0x207f_ffff)!.value == UInt256(0x7f_ffff) << (8 * 29))
        // Small exponents shift right.
        #expect(Target(compact: 0x0112_3456)!.value == UInt256(0x12))
        #expect(Target(compact: 0x0212_3456)!.value == UInt256(0x1234))
        // Negative and overflowing encodings are rejected.
        #expect(Target(compact: 0x0180_0001) == nil)
        #expect(Target(compact: 0xff12_3456) == nil)
    }

    @Test(arguments: [UInt32(0x1d00_ffff), 0x207f_ffff, 0x1a44_b9f2, 0x1b04_864c, 0x1703_a30c, 0x0312_3456])
    func compactRoundTrip(nbits: UInt32) {
        #expect(Target(compact: nbits)!.compact == nbits)
    }

    @Test func difficultyConversions() {
        #expect(Target(difficulty: 1)! == .difficultyOne)
        #expect(Target.difficultyOne.difficulty == 1)
        let hard = Target(difficulty: 1024)!
        #expect(hard.value == Target.difficultyOne.value >> 10)
        #expect(hard.difficulty == 1024)
        let fractional = Target(difficulty: 0.5)!
        #expect(fractional.value == Target.difficultyOne.value << 1)
        #expect(Target(difficulty: 0) == nil && Target(difficulty: -1) == nil && Target(difficulty: .nan) == nil)
        #expect(Target(difficulty: 1e-80)! == .max)
        // Mainnet block 125552 difficulty ≈ 244112.49.
        let d = Target(compact: 0x1a44_b9f2)!.difficulty
        #expect(abs(d - 244_112.487_774_77) < 0.01)
    }

    @Test func hashrateFormulaMatchesSRI() {
        // hs = 2^32 − 1 ⇒ (2^256 − 1 − hs)/(hs + 1) = (2^256 − 2^32)/2^32 = 2^224 − 1.
        let target = Target(hashrate: 4_294_967_295, sharesPerMinute: 60)!
        #expect(target.value == (UInt256(1) << 224).subtractingReportingOverflow(UInt256(1)).partialValue)
        // hs = 0 ⇒ 2^256 − 1.
        #expect(Target(hashrate: 0, sharesPerMinute: 10)! == .max)
        // 1 PH/s at 6 shares/min ⇒ hs = 10^16; the expected work per share is hs (+1).
        let pool = Target(hashrate: 1e15, sharesPerMinute: 6)!
        #expect(abs(pool.expectedHashesPerShare / 1e16 - 1) < 1e-12)
        #expect(abs(pool.hashrate(sharesPerMinute: 6) / 1e15 - 1) < 1e-12)
        #expect(Target(hashrate: 1, sharesPerMinute: 0) == nil && Target(hashrate: -1, sharesPerMinute: 1) == nil)
    }

    @Test func isMetComparesHashAsLittleEndianInteger() {
        let target = Target(compact: 0x037f_ffff)! // 0x7fffff
        var raw = [UInt8](repeating: 0, count: 32)
        raw[0] = 0xff; raw[1] = 0xff; raw[2] = 0x7f
        #expect(target.isMet(by: Hash256(bytes: raw)!)) // equal meets
        raw[0] = 0x00; raw[3] = 0x01 // 0x01007fff00 > target
        #expect(!target.isMet(by: Hash256(bytes: raw)!))
        raw[3] = 0; raw[2] = 0x80 // 0x80ff00? no: 0x800000 > 0x7fffff
        #expect(!target.isMet(by: Hash256(bytes: raw)!))
        #expect(raw.withUnsafeBytes { Target.max.isMet(by: $0.baseAddress!) })
    }

    @Test func uint256Arithmetic() {
        let a = UInt256(w0: .max, w1: 1, w2: 0, w3: 7)
        #expect((a << 64) >> 64 == UInt256(w0: .max, w1: 1, w2: 0, w3: 0))
        #expect((a << 3) >> 3 == UInt256(w0: .max, w1: 1, w2: 0, w3: 7))
        let (sum, overflow) = UInt256.max.addingReportingOverflow(UInt256(1))
        #expect(sum == .zero && overflow)
        let (q, r) = a.quotientAndRemainder(dividingBy: UInt256(1000))
        #expect(q.multipliedReportingOverflow(by: 1000).partialValue.addingReportingOverflow(r).partialValue == a)
        #expect(r < UInt256(1000))
        #expect(UInt256(truncating: 0x1p200)! == UInt256(1) << 200)
        #expect(UInt256(truncating: 12345.9)! == UInt256(12345))
        #expect((UInt256(1) << 200).doubleValue == 0x1p200)
    }
}
