public import Sv2Codec
public import Sv2Noise
public import Reactor

/// Why a service refused a message or closed a connection. Every case is logged with the connection id, counted
/// in the service's statistics and closes only the offending connection.
public enum Sv2ServiceError: Error, Equatable, CustomStringConvertible {
    /// A frame did not decode.
    case malformedMessage(Sv2DecodeError)
    /// A frame announced a payload larger than the configured maximum.
    case frameTooLarge(length: Int, limit: Int)
    /// A frame with an extension/type this service does not know.
    case unknownMessage(extensionType: UInt16, messageType: UInt8)
    /// The frame's channel bit disagrees with the message type.
    case channelBitMismatch(Sv2MessageType)
    /// A message this side never receives, or one the handler does not implement.
    case unexpectedMessage(Sv2MessageType)
    /// A message before `SetupConnection` completed.
    case setupRequired(Sv2MessageType)
    /// A second `SetupConnection`.
    case setupRepeated
    /// A message of a subprotocol other than the one the connection was set up for.
    case wrongProtocol(Sv2MessageType, connection: Sv2Protocol)
    /// A channel message naming a channel this connection does not own.
    case unknownChannel(UInt32)
    /// The server refused our `SetupConnection` (client side).
    case setupRefused(code: String, flags: UInt32)
    /// The Noise handshake or transport failed (bad MAC, bad certificate, …).
    case noise(Sv2NoiseError)
    /// The handshake (Noise + SetupConnection) did not finish in time.
    case handshakeTimeout
    /// Nothing was received within the inactivity timeout.
    case inactivityTimeout
    /// A frame started arriving but was not complete within the partial-frame timeout (slow sender).
    case frameTimeout
    /// The connection is not open (or not ready) for sending.
    case notConnected
    /// A message could not be encoded (field too long) — a bug in the sender, reported, not sent.
    case encodingFailed(Sv2EncodeError)
    /// The peer's write queue is full (it stopped reading).
    case writeBufferFull
    /// The peer sent more unconsumed bytes than the event loop's read buffer holds (`maxReadBufferSize`); happens
    /// when `maxFramePayload` is not below that limit.
    case receiveBufferOverflow
    /// The socket layer failed.
    case transport(ReactorError)
    /// Invalid configuration.
    case invalidConfiguration(String)
    /// A handler refused the message; the connection is closed with this reason.
    case rejected(String)
    /// A handler context was used after the handler call it was given to returned (release builds; debug builds
    /// trap). Nothing was sent; the handler should keep the connection id and reach the peer through the service.
    case contextExpired

    public var description: String {
        switch self {
        case .malformedMessage(let error): "\(error)"
        case .frameTooLarge(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit)"
        case .unknownMessage(let ext, let type): "unknown message ext 0x\(String(ext, radix: 16)) type 0x\(String(type, radix: 16))"
        case .channelBitMismatch(let type): "channel bit wrong for \(type)"
        case .unexpectedMessage(let type): "unexpected \(type)"
        case .setupRequired(let type): "\(type) before SetupConnection"
        case .setupRepeated: "SetupConnection sent twice"
        case .wrongProtocol(let type, let proto): "\(type) on a \(proto) connection"
        case .unknownChannel(let id): "channel \(id) is not open on this connection"
        case .setupRefused(let code, let flags): "SetupConnection refused: \(code) (flags 0x\(String(flags, radix: 16)))"
        case .noise(let error): "noise: \(error)"
        case .handshakeTimeout: "handshake timed out"
        case .inactivityTimeout: "inactivity timeout"
        case .frameTimeout: "frame not completed in time"
        case .notConnected: "not connected"
        case .encodingFailed(let error): "\(error)"
        case .writeBufferFull: "write buffer full (peer not reading)"
        case .receiveBufferOverflow: "receive buffer overflow (frame larger than the read buffer)"
        case .transport(let error): "\(error)"
        case .invalidConfiguration(let text): "invalid configuration: \(text)"
        case .rejected(let reason): "rejected: \(reason)"
        case .contextExpired: "handler context used after its handler call returned"
        }
    }

    /// A short stable label for metrics.
    public var metricLabel: String {
        switch self {
        case .malformedMessage: "malformed"
        case .frameTooLarge: "frame_too_large"
        case .unknownMessage: "unknown_message"
        case .channelBitMismatch: "channel_bit"
        case .unexpectedMessage: "unexpected_message"
        case .setupRequired: "setup_required"
        case .setupRepeated: "setup_repeated"
        case .wrongProtocol: "wrong_protocol"
        case .unknownChannel: "unknown_channel"
        case .setupRefused: "setup_refused"
        case .noise: "noise"
        case .handshakeTimeout: "handshake_timeout"
        case .inactivityTimeout: "inactivity_timeout"
        case .frameTimeout: "frame_timeout"
        case .notConnected: "not_connected"
        case .encodingFailed: "encoding_failed"
        case .writeBufferFull: "write_buffer_full"
        case .receiveBufferOverflow: "receive_buffer_overflow"
        case .transport: "transport"
        case .invalidConfiguration: "invalid_configuration"
        case .rejected: "rejected"
        case .contextExpired: "context_expired"
        }
    }
}

/// Why a connection closed, as handlers see it.
public enum Sv2CloseReason: Equatable, Sendable, CustomStringConvertible {
    /// This side closed it (service shutdown or an explicit close).
    case closedLocally
    /// The peer closed or reset the connection.
    case peerClosed(CloseReason)
    /// A protocol error closed it.
    case error(Sv2ServiceError)

    public var description: String {
        switch self {
        case .closedLocally: "closed locally"
        case .peerClosed(let reason): "peer closed (\(reason))"
        case .error(let error): "\(error)"
        }
    }
}


/// Decodes a view, mapping the codec's error into the service's.
@inlinable func decode<View: Sv2MessageView>(
    _ type: View.Type, _ payload: Sv2Bytes
) throws(Sv2ServiceError) -> View {
    do { return try View(payload: payload) } catch { throw .malformedMessage(error) }
}
