import Sv2Noise

/// The Noise side of one NIO connection: the responder until act 1 arrives, then the transport session. Shared by
/// the frame decoder (decrypts) and the pool handler (encrypts); both run on the channel's event loop.
final class NoiseState {
    private var responder: NoiseResponder?
    private var session: NoiseSession?

    init(identity: NoiseResponder.Identity) throws {
        responder = try NoiseResponder(identity: identity)
    }

    var isEstablished: Bool { session != nil }

    /// Reads act 1, writes act 2 into `out` (234 bytes) and keeps the session.
    func respond(toActOne actOne: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws {
        guard var responder = responder.take() else { throw Sv2NoiseError.outOfOrder }
        session = try responder.respond(toActOne: actOne, into: out)
    }

    func decryptHeader(_ buffer: UnsafeMutableRawBufferPointer) throws {
        try session!.decryptHeader(buffer)
    }

    func decryptPayload(_ buffer: UnsafeMutableRawBufferPointer, plaintextLength: Int) throws {
        try session!.decryptPayload(buffer, plaintextLength: plaintextLength)
    }

    func encryptFrame(in buffer: UnsafeMutableRawBufferPointer, payloadLength: Int) throws -> Int {
        try session!.encryptFrame(in: buffer, payloadLength: payloadLength)
    }
}
