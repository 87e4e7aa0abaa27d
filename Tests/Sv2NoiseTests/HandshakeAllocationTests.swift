import MallocCounter
import Testing
@testable import Sv2Noise

/// Heap allocations of a responder handshake, counted on this thread by the test executable's malloc wrappers
/// (MallocCounter): a deterministic count, whatever the machine's load. Not in sanitizer builds (their runtime owns
/// malloc, so nothing can be counted).
@Suite(.enabled(if: malloc_counter_available() == 1, "malloc is the sanitizer's in this build"))
struct HandshakeAllocationTests {
    /// Allocations of `body`, run once first so that one-time set-up (the libsecp256k1 context, the initial
    /// handshake hash, OpenSSL's tables) is not counted.
    static func allocations(_ runs: Int = 10, _ body: () throws -> Void) rethrows -> UInt64 {
        try body()
        malloc_counter_start()
        defer { _ = malloc_counter_stop() }
        for _ in 0..<runs { try body() }
        return malloc_counter_stop()
    }

    /// One handshake and one 24-byte frame sent on its session; returns the frame's size. (No `#expect` in here: the
    /// expectation machinery allocates.)
    @discardableResult
    static func respond(_ identity: NoiseResponder.Identity, actOne: [UInt8], actTwo: inout [UInt8]) throws -> Int {
        var responder = try NoiseResponder(identity: identity)
        return try actOne.withUnsafeBytes { one in
            try actTwo.withUnsafeMutableBytes { two in
                var session = try responder.respond(toActOne: one, into: two)
                // A share-sized frame on the new session: sending allocates nothing either.
                return try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { raw in
                    raw.initializeMemory(as: UInt8.self, repeating: 0)
                    return try session.encryptFrame(in: raw, payloadLength: 24)
                }
            }
        }
    }

    static func actOne(authority: AuthorityKeyPair) throws -> [UInt8] {
        var initiator = try NoiseInitiator(authorityKey: authority.publicKey)
        var actOne = [UInt8](repeating: 0, count: 64)
        try actOne.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
        return actOne
    }

    @Test func freshKeyResponderAllocatesNothing() throws {
        let authority = try AuthorityKeyPair.generate()
        let identity = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 60)
        let actOne = try Self.actOne(authority: authority)
        var actTwo = [UInt8](repeating: 0, count: 234)
        #expect(try Self.respond(identity, actOne: actOne, actTwo: &actTwo) == NoiseSession.encryptedSize(payloadLength: 24))
        let count = try Self.allocations { try Self.respond(identity, actOne: actOne, actTwo: &actTwo) }
        #expect(count == 0)
    }

    @Test func persistentKeyResponderAllocatesNothing() throws {
        let authority = try AuthorityKeyPair.generate()
        let identity = try NoiseResponder.Identity.makePersistent(authority: authority, validFrom: 0, notValidAfter: .max)
        let actOne = try Self.actOne(authority: authority)
        var actTwo = [UInt8](repeating: 0, count: 234)
        #expect(try Self.respond(identity, actOne: actOne, actTwo: &actTwo) == NoiseSession.encryptedSize(payloadLength: 24))
        let count = try Self.allocations { try Self.respond(identity, actOne: actOne, actTwo: &actTwo) }
        #expect(count == 0)
    }

    /// The counter itself works: an array of fresh storage is one allocation each.
    @Test func counterCountsAllocations() {
        var keep: [[UInt8]] = []
        keep.reserveCapacity(10)
        let count = Self.allocations(5) { keep.append([UInt8](repeating: 1, count: 100 + keep.count)) }
        #expect(count == 5)
    }
}
