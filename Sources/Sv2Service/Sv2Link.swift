import Reactor
import Sv2Codec
import Sv2Noise

/// One Sv2 connection's transport state, shared by the server and client services: it turns received bytes into
/// frames (decrypting in place when Noise is on) and encodes outgoing messages straight into the connection's
/// write buffer (encrypting in place). No allocation per frame in either direction.
final class Sv2Link {
    /// Where the connection is in its life.
    enum Phase: Equatable {
        /// Waiting for the 64-byte act 1 (server) or the 234-byte act 2 (client).
        case noiseHandshake
        /// Server: waiting for SetupConnection. Client: waiting for SetupConnection.Success/Error.
        case awaitingSetup
        /// Set up for a subprotocol; traffic flows.
        case ready(Sv2Protocol)
        /// Closing or closed; nothing more is processed.
        case closing
    }

    let id: Sv2ConnectionID
    let connection: Connection
    let maxFramePayload: Int
    // The state touched for every frame is exempt from dynamic exclusivity checks (`swift_beginAccess` costs a
    // thread-local lookup and an access-set insert per access): a link is used only on its loop's thread, and no
    // access to these properties spans a call that could reach them again.
    @exclusivity(unchecked) var phase: Phase {
        didSet { if case .ready(let p) = phase { setUpProtocol = p } }
    }
    /// The subprotocol this connection was set up for; kept after it starts closing, so handlers hear of the close.
    private(set) var setUpProtocol: Sv2Protocol?
    @exclusivity(unchecked) var session: NoiseSession?
    /// A decrypted header whose payload has not fully arrived yet (its ciphertext header was already consumed).
    @exclusivity(unchecked) var pendingHeader: Sv2FrameHeader?
    @exclusivity(unchecked) var lastActivity: UInt64
    /// When the incomplete frame now buffered started arriving (`nil`: no partial frame buffered). Reset by every
    /// completed frame, so a peer whose reads always end mid-frame is judged frame by frame.
    @exclusivity(unchecked) var partialFrameSince: UInt64?
    /// The one partial-frame deadline timer (re-armed lazily from `partialFrameSince`, never once per frame).
    var partialFrameTimer: TimerHandle?
    var handshakeTimer: TimerHandle?
    var inactivityTimer: TimerHandle?
    /// Flags of the accepted SetupConnection (server) or of the Success (client).
    var setupFlags: UInt32 = 0
    /// Channels this connection owns (server side; for ownership checks and channel broadcasts).
    @exclusivity(unchecked) var channels: Set<UInt32> = [] { didSet { lastOwned = nil } }
    /// The channel the last ownership check found (`nil` after any change to ``channels``): a connection usually
    /// submits on one channel, and hashing the id into the set for every share showed up in profiles.
    @exclusivity(unchecked) private var lastOwned: UInt32?
    /// Group channels this connection owns and their members (server side, from the SetGroupChannel messages sent):
    /// closing a group closes its members, so their ids stop being accepted too.
    var groups: [UInt32: Set<UInt32>] = [:]
    /// The error that made this side close, reported to handlers as the close reason.
    var closeError: Sv2ServiceError?
    /// Server: counted in the admission's handshakes in flight (accepted, not yet set up).
    var handshakeInFlight = false
    /// Server: a received act 1 waiting for a later loop iteration's handshake budget.
    var queuedActOne: [UInt8]?

    init(connection: Connection, phase: Phase, maxFramePayload: Int, now: UInt64) {
        id = Sv2ConnectionID(connection.id)
        self.connection = connection
        self.phase = phase
        self.maxFramePayload = maxFramePayload
        lastActivity = now
    }

    /// Whether this connection owns `channel` (server side).
    @inline(__always)
    func owns(_ channel: UInt32) -> Bool {
        if channel == lastOwned { return true }
        guard channels.contains(channel) else { return false }
        lastOwned = channel
        return true
    }

    var sv2Protocol: Sv2Protocol? {
        if case .ready(let p) = phase { return p }
        return nil
    }

    var isEncrypted: Bool { session != nil }

    /// Largest payload accepted now: before SetupConnection completes only SetupConnection (or its answers) may
    /// arrive, so a frame is at most `Sv2ServerConfiguration.preSetupMaxFramePayload` bytes, whatever
    /// `maxFramePayload` allows afterwards — an unauthenticated peer cannot make us buffer 512 KiB.
    var frameLimit: Int {
        if case .ready = phase { return maxFramePayload }
        return Swift.min(maxFramePayload, Sv2ServerConfiguration.preSetupMaxFramePayload)
    }

    /// Checks a header as soon as it is known, before any of its payload is buffered: the type must be one we know
    /// and the length within `frameLimit`.
    @inline(__always)
    private func check(_ header: Sv2FrameHeader) throws(Sv2ServiceError) {
        guard header.knownMessageType != nil else {
            throw .unknownMessage(extensionType: header.extensionID, messageType: header.messageType)
        }
        let limit = frameLimit
        guard header.payloadLength <= limit else { throw .frameTooLarge(length: header.payloadLength, limit: limit) }
    }

    /// The next whole frame at `bytes[offset...]`, advancing `offset` past it; `nil` when more bytes are needed.
    /// The payload is plaintext in place (decrypted inside `bytes`) and valid until the read callback returns.
    @inline(__always)
    func nextFrame(_ bytes: UnsafeMutableRawBufferPointer, offset: inout Int) throws(Sv2ServiceError) -> Sv2Frame? {
        if session == nil {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            guard rest.count >= Sv2FrameHeader.size else { return nil }
            try check(Sv2FrameHeader(loadingFrom: rest.baseAddress!))
            let frame: Sv2Frame?
            do { frame = try Sv2Frame.split(rest, maximumPayloadLength: maxFramePayload) } catch {
                if case .lengthExceedsLimit(let length, let limit) = error.reason {
                    throw .frameTooLarge(length: length, limit: limit)
                }
                throw .malformedMessage(error)
            }
            guard let frame else { return nil }
            offset += frame.size
            return frame
        }
        return try nextEncryptedFrame(bytes, offset: &offset)
    }

    private func nextEncryptedFrame(
        _ bytes: UnsafeMutableRawBufferPointer, offset: inout Int
    ) throws(Sv2ServiceError) -> Sv2Frame? {
        let header: Sv2FrameHeader
        if let pending = pendingHeader {
            header = pending
        } else {
            guard bytes.count - offset >= NoiseSession.encryptedHeaderSize else { return nil }
            let slice = UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<(offset + NoiseSession.encryptedHeaderSize)])
            do { try session!.decryptHeader(slice) } catch { throw .noise(error) }
            header = Sv2FrameHeader(loadingFrom: slice.baseAddress!)
            offset += NoiseSession.encryptedHeaderSize
            try check(header)
            pendingHeader = header
        }
        let cipherLength = NoiseSession.encryptedSize(payloadLength: header.payloadLength) - NoiseSession.encryptedHeaderSize
        guard bytes.count - offset >= cipherLength else { return nil }
        let slice = UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<(offset + cipherLength)])
        do { try session!.decryptPayload(slice, plaintextLength: header.payloadLength) } catch { throw .noise(error) }
        offset += cipherLength
        pendingHeader = nil
        return Sv2Frame(
            header: header,
            payload: Sv2Bytes(unsafeBytes: UnsafeRawBufferPointer(start: slice.baseAddress, count: header.payloadLength)))
    }

    /// Encodes `message` (and encrypts it when Noise is on) directly into the connection's write buffer.
    @inline(__always)
    func send<M: Sv2Message>(_ message: M) throws(Sv2ServiceError) {
        guard phase != .closing, connection.isOpen else { throw .notConnected }
        let payloadLength = message.encodedSize
        guard payloadLength <= Sv2FrameHeader.maximumPayloadLength else {
            throw .encodingFailed(Sv2EncodeError(
                message: M.messageType, field: "msg_length",
                reason: .lengthExceedsLimit(length: payloadLength, limit: Sv2FrameHeader.maximumPayloadLength)))
        }
        var failure: Sv2ServiceError?
        let accepted: Bool
        if session != nil {
            let total = NoiseSession.encryptedSize(payloadLength: payloadLength)
            accepted = connection.withWritableBuffer(minimumCapacity: total) { buffer in
                let frame = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<total])
                Sv2FrameHeader(messageType: M.messageType, payloadLength: payloadLength).store(to: frame.baseAddress!)
                let start = NoiseSession.encryptedHeaderSize
                var writer = Sv2Writer(
                    UnsafeMutableRawBufferPointer(rebasing: frame[start..<(start + payloadLength)]), message: M.messageType)
                do throws(Sv2EncodeError) { try message.encode(into: &writer) } catch {
                    failure = .encodingFailed(error)
                    return 0
                }
                do throws(Sv2NoiseError) {
                    return try session!.encryptFrame(in: frame, payloadLength: payloadLength)
                } catch {
                    failure = .noise(error)
                    return 0
                }
            }
        } else {
            accepted = connection.withWritableBuffer(minimumCapacity: Sv2FrameHeader.size + payloadLength) { buffer in
                do throws(Sv2EncodeError) { return try message.encodeFrame(into: buffer) } catch {
                    failure = .encodingFailed(error)
                    return 0
                }
            }
        }
        if let failure { throw failure }
        guard accepted else { throw .writeBufferFull }
    }

    /// Writes raw handshake bytes.
    func writeRaw(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(Sv2NoiseError) -> Void) throws(Sv2ServiceError) {
        var failure: Sv2NoiseError?
        let accepted = connection.withWritableBuffer(minimumCapacity: count) { buffer in
            do throws(Sv2NoiseError) {
                try body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
                return count
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw .noise(failure) }
        guard accepted else { throw .writeBufferFull }
    }
}
