import NIOCore
import Sv2Codec
import Sv2Noise

/// Splits the byte stream into Sv2 frames (6-byte header + payload) with NIO's `ByteToMessageDecoder`; with Noise
/// it first answers the handshake, then decrypts each frame in place and emits the plaintext frame.
final class Sv2FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    private let noise: NoiseState?
    private var pendingPlainLength: Int?

    init(noise: NoiseState?) { self.noise = noise }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let noise else { return try decodePlain(context: context, buffer: &buffer) }
        if !noise.isEstablished {
            guard let actOne = buffer.readSlice(length: NoiseResponder.actOneSize) else { return .needMoreData }
            var reply = context.channel.allocator.buffer(capacity: NoiseResponder.actTwoSize)
            _ = try actOne.withUnsafeReadableBytes { one in
                try reply.writeWithUnsafeMutableBytes(minimumWritableBytes: NoiseResponder.actTwoSize) { out in
                    try noise.respond(toActOne: one, into: out)
                    return NoiseResponder.actTwoSize
                }
            }
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
            return .continue
        }
        return try decodeEncrypted(context: context, buffer: &buffer, noise: noise)
    }

    private func wrapOutboundOut(_ buffer: ByteBuffer) -> NIOAny { NIOAny(buffer) }

    private func decodePlain(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= Sv2FrameHeader.size,
              let low = buffer.getInteger(at: buffer.readerIndex + 3, endianness: .little, as: UInt16.self),
              let high = buffer.getInteger(at: buffer.readerIndex + 5, as: UInt8.self)
        else { return .needMoreData }
        let payloadLength = Int(low) | Int(high) << 16
        guard payloadLength <= 1 << 20 else { throw Sv2NoiseError.outOfOrder }
        guard let frame = buffer.readSlice(length: Sv2FrameHeader.size + payloadLength) else { return .needMoreData }
        context.fireChannelRead(NIOAny(frame))
        return .continue
    }

    private func decodeEncrypted(context: ChannelHandlerContext, buffer: inout ByteBuffer, noise: NoiseState)
        throws -> DecodingState
    {
        if pendingPlainLength == nil {
            guard buffer.readableBytes >= NoiseSession.encryptedHeaderSize else { return .needMoreData }
            // Decrypt the header in place; its plaintext msg_length says how much ciphertext follows.
            let length = try buffer.withUnsafeMutableReadableBytes { raw in
                try noise.decryptHeader(UnsafeMutableRawBufferPointer(rebasing: raw[0..<NoiseSession.encryptedHeaderSize]))
                return Int(raw[3]) | Int(raw[4]) << 8 | Int(raw[5]) << 16
            }
            guard length <= 1 << 20 else { throw Sv2NoiseError.outOfOrder }
            pendingPlainLength = length
        }
        let length = pendingPlainLength!
        let total = NoiseSession.encryptedSize(payloadLength: length)
        guard buffer.readableBytes >= total else { return .needMoreData }
        pendingPlainLength = nil
        try buffer.withUnsafeMutableReadableBytes { raw in
            let payload = UnsafeMutableRawBufferPointer(rebasing: raw[NoiseSession.encryptedHeaderSize..<total])
            try noise.decryptPayload(payload, plaintextLength: length)
            // Make the frame contiguous: plaintext header right before the plaintext payload.
            (raw.baseAddress! + NoiseSession.encryptedHeaderSize - Sv2FrameHeader.size)
                .copyMemory(from: raw.baseAddress!, byteCount: Sv2FrameHeader.size)
        }
        buffer.moveReaderIndex(forwardBy: NoiseSession.encryptedHeaderSize - Sv2FrameHeader.size)
        let frame = buffer.readSlice(length: Sv2FrameHeader.size + length)!
        buffer.moveReaderIndex(forwardBy: total - NoiseSession.encryptedHeaderSize - length)
        context.fireChannelRead(NIOAny(frame))
        return .continue
    }
}
