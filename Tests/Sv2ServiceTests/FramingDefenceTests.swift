import Foundation
import Glibc
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing

/// How much a peer can make the server buffer, and for how long: frame caps before SetupConnection, unknown types
/// refused from the header alone, and the partial-frame deadline.
@Suite("Framing defence over loopback", .serialized)
struct FramingDefenceTests {
    /// Before SetupConnection a frame is at most SetupConnection's own maximum: a header announcing one byte more is
    /// refused from the header (no payload is ever sent), while a SetupConnection of exactly the maximum size passes.
    @Test(arguments: transportMatrix)
    func preSetupFrameCap(backend: ReactorBackend, noise: Bool) throws {
        let harness = try HostileHarness(backend: backend, noise: noise)
        defer { harness.stop() }
        let limit = Sv2ServerConfiguration.preSetupMaxFramePayload
        #expect(limit < 4096)

        let largest = SetupConnection(
            protocolID: Sv2Protocol.mining.rawValue, minVersion: 2, maxVersion: 2, flags: 0,
            endpointHost: String(repeating: "h", count: 255), endpointPort: 3333,
            vendor: String(repeating: "v", count: 255), hardwareVersion: String(repeating: "w", count: 255),
            firmware: String(repeating: "f", count: 255), deviceID: String(repeating: "d", count: 255))
        #expect(try largest.encodedPayload().count == limit)
        let honest = try HostileClient(server: harness.address, noise: noise)
        honest.send(largest)
        #expect(try honest.readFrame().header.knownMessageType == .setupConnectionSuccess)

        let client = try HostileClient(server: harness.address, noise: noise)
        // Only the header: the server must not wait for (or buffer) the announced payload.
        let header = client.frame(extensionType: 0, messageType: 0, payload: [], announcedLength: limit + 1)
        client.send(Array(header.prefix(noise ? NoiseSession.encryptedHeaderSize : Sv2FrameHeader.size)))
        #expect(try harness.runner.wait(timeout: 5) { harness.errors.value.count == 1 })
        #expect(try harness.reportedErrors() == [.frameTooLarge(length: limit + 1, limit: limit)])
        #expect(client.waitForClose())
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// An unknown message type is refused as soon as its header arrives, before and after setup, even when its
    /// announced payload is within the size cap and never sent.
    @Test(arguments: transportMatrix)
    func unknownTypeRefusedFromHeader(backend: ReactorBackend, noise: Bool) throws {
        let harness = try HostileHarness(backend: backend, noise: noise)
        defer { harness.stop() }
        for afterSetup in [false, true] {
            let client = try HostileClient(server: harness.address, noise: noise)
            if afterSetup { try client.setUp() }
            let length = afterSetup ? 100_000 : 1_000
            let header = client.frame(extensionType: 0, messageType: 0xEE, payload: [], announcedLength: length)
            client.send(Array(header.prefix(noise ? NoiseSession.encryptedHeaderSize : Sv2FrameHeader.size)))
            let count = afterSetup ? 2 : 1
            #expect(try harness.runner.wait(timeout: 5) { harness.errors.value.count == count }, "after setup: \(afterSetup)")
            #expect(try harness.reportedErrors().last == .unknownMessage(extensionType: 0, messageType: 0xEE))
            #expect(client.waitForClose())
        }
        #expect(try harness.statistics().errors("unknown_message") == 2)
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// A peer whose every read ends mid-frame but which keeps completing frames is never closed by the partial-frame
    /// deadline: the deadline restarts with each completed frame. The run lasts well past the deadline (each step waits
    /// for the previous share's acknowledgement, so the server did read every chunk).
    @Test(arguments: transportMatrix)
    func partialFrameDeadlineRestartsWithEveryFrame(backend: ReactorBackend, noise: Bool) throws {
        let timeout = 1.0
        let harness = try HostileHarness(backend: backend, noise: noise) { $0.partialFrameTimeout = .seconds(1) }
        defer { harness.stop() }
        let client = try HostileClient(server: harness.address, noise: noise)
        try client.setUp()
        let channel = try client.openChannel()
        let start = Date()
        var sequence: UInt32 = 1
        // Second half of the previous frame + first half of the next one, per send.
        var carry: [UInt8] = []
        var acknowledged = 0
        while Date().timeIntervalSince(start) < 2.5 * timeout || acknowledged < 3 {
            let next = client.frame(client.share(channel: channel, sequence: sequence))
            let half = next.count / 2
            client.send(carry + next[0..<half])
            carry = Array(next[half...])
            if sequence > 1 {
                let (header, _) = try client.readFrame()
                #expect(header.knownMessageType == .submitSharesSuccess)
                acknowledged += 1
            }
            sequence += 1
            usleep(200_000)  // pacing: the run must outlast the deadline; no step waits on this
            #expect(sequence < 200, "runaway loop")
            if sequence >= 200 { break }
        }
        client.send(carry)
        #expect(try client.readFrame().header.knownMessageType == .submitSharesSuccess)
        #expect(try harness.reportedErrors() == [])
        #expect(try harness.statistics().errors("frame_timeout") == 0)
    }
}
