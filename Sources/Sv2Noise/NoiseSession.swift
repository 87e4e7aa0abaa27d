/// The encrypted transport of one connection after the handshake: one ChaCha20-Poly1305 key and
/// 64-bit nonce per direction.
///
/// Frames follow Sv2 §4.6 / SRI: the 6-byte header is its own AEAD message (22 bytes on the wire)
/// and the payload is sealed in chunks of at most 65 519 bytes, each followed by its 16-byte tag;
/// an empty payload has no payload ciphertext at all. Everything happens in the caller's buffer,
/// without allocation; the keys are held inline (a session costs no allocation until its first message above
/// ``ChaChaPolyCipher/fastPathLimit`` bytes in a direction, which sets up OpenSSL for that direction). Non-copyable
/// so that two copies can never reuse a nonce.
public struct NoiseSession: ~Copyable {
    /// Plaintext frame header size.
    public static let headerSize = 6
    /// Encrypted frame header size (header + tag).
    public static let encryptedHeaderSize = 22
    /// Largest plaintext chunk of a payload (Noise's 65 535-byte message limit minus the tag).
    public static let maxChunkSize = 65_519
    private static let tagSize = ChaChaPolyCipher.tagSize

    private var sender: TransportCipher
    private var receiver: TransportCipher
    /// Next nonce for sending.
    public private(set) var sendNonce: UInt64 = 0
    /// Next nonce for receiving.
    public private(set) var receiveNonce: UInt64 = 0

    init(sendKey: Bytes32, receiveKey: Bytes32) {
        sender = TransportCipher(key: sendKey)
        receiver = TransportCipher(key: receiveKey)
    }

    /// Test hook: keys as arrays.
    init(sendKey: [UInt8], receiveKey: [UInt8]) {
        self.init(sendKey: Bytes32(sendKey), receiveKey: Bytes32(receiveKey))
    }

    /// Test hook: a session whose nonces start elsewhere than 0.
    init(sendKey: [UInt8], receiveKey: [UInt8], sendNonce: UInt64, receiveNonce: UInt64) {
        self.init(sendKey: sendKey, receiveKey: receiveKey)
        self.sendNonce = sendNonce
        self.receiveNonce = receiveNonce
    }

    /// Number of payload chunks (and tags) for a payload of `length` bytes.
    @inline(__always)
    static func chunkCount(payloadLength length: Int) -> Int {
        (length + maxChunkSize - 1) / maxChunkSize
    }

    /// On-wire size of a frame with an `L`-byte payload: `22 + L + 16·⌈L / 65519⌉`.
    public static func encryptedSize(payloadLength: Int) -> Int {
        encryptedHeaderSize + payloadLength + tagSize * chunkCount(payloadLength: payloadLength)
    }

    /// Encrypts one frame in place and returns its on-wire size.
    ///
    /// On entry the 6-byte plaintext header is at `[0, 6)` and the payload at `[22, 22 + payloadLength)`;
    /// `buffer.count` must be at least ``encryptedSize(payloadLength:)``. On return the frame is at
    /// `[0, encryptedSize)`. Consumes `1 + ⌈L / 65519⌉` nonces.
    public mutating func encryptFrame(
        in buffer: UnsafeMutableRawBufferPointer, payloadLength: Int
    ) throws(Sv2NoiseError) -> Int {
        precondition(payloadLength >= 0, "negative payload length")
        let total = Self.encryptedSize(payloadLength: payloadLength)
        guard buffer.count >= total else { throw .wrongMessageSize(expected: total, got: buffer.count) }
        let chunks = Self.chunkCount(payloadLength: payloadLength)
        // Every nonce used must stay below 2^64 − 1.
        guard UInt64(1 + chunks) <= UInt64.max - sendNonce else { throw .nonceExhausted }
        let base = buffer.baseAddress!
        let noAD = UnsafeRawBufferPointer(start: nil, count: 0)
        sender.seal(
            nonce: sendNonce, associatedData: noAD,
            inPlace: UnsafeMutableRawBufferPointer(start: base, count: Self.encryptedHeaderSize),
            plaintextLength: Self.headerSize)
        // Chunk i moves from 22 + i·65519 to 22 + i·65535 to make room for the tags before it.
        // Going back to front, a moved chunk only overwrites chunks already sealed further right.
        var i = chunks - 1
        while i >= 0 {
            let length = min(Self.maxChunkSize, payloadLength - i * Self.maxChunkSize)
            let source = base + Self.encryptedHeaderSize + i * Self.maxChunkSize
            let target = base + Self.encryptedHeaderSize + i * (Self.maxChunkSize + Self.tagSize)
            if i > 0 { target.copyMemory(from: source, byteCount: length) }
            sender.seal(
                nonce: sendNonce + 1 + UInt64(i), associatedData: noAD,
                inPlace: UnsafeMutableRawBufferPointer(start: target, count: length + Self.tagSize),
                plaintextLength: length)
            i -= 1
        }
        sendNonce += UInt64(1 + chunks)
        return total
    }

    /// Decrypts the 22-byte encrypted header at the start of `buffer` in place, leaving the
    /// 6-byte plaintext header at `[0, 6)`. Its `msg_length` is the plaintext payload length.
    public mutating func decryptHeader(_ buffer: UnsafeMutableRawBufferPointer) throws(Sv2NoiseError) {
        guard buffer.count >= Self.encryptedHeaderSize else {
            throw .wrongMessageSize(expected: Self.encryptedHeaderSize, got: buffer.count)
        }
        guard receiveNonce < .max else { throw .nonceExhausted }
        guard receiver.open(
            nonce: receiveNonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
            inPlace: buffer, plaintextLength: Self.headerSize)
        else { throw .badMAC }
        receiveNonce += 1
    }

    /// Decrypts a payload of `plaintextLength` bytes whose `encryptedSize − 22` ciphertext bytes
    /// start at `buffer[0]`, in place; the plaintext ends up contiguous at `[0, plaintextLength)`.
    public mutating func decryptPayload(
        _ buffer: UnsafeMutableRawBufferPointer, plaintextLength: Int
    ) throws(Sv2NoiseError) {
        precondition(plaintextLength >= 0, "negative payload length")
        let chunks = Self.chunkCount(payloadLength: plaintextLength)
        let needed = plaintextLength + Self.tagSize * chunks
        guard buffer.count >= needed else { throw .wrongMessageSize(expected: needed, got: buffer.count) }
        guard UInt64(chunks) <= UInt64.max - receiveNonce else { throw .nonceExhausted }
        let base = buffer.baseAddress!
        let noAD = UnsafeRawBufferPointer(start: nil, count: 0)
        for i in 0..<chunks {
            let length = min(Self.maxChunkSize, plaintextLength - i * Self.maxChunkSize)
            let source = base + i * (Self.maxChunkSize + Self.tagSize)
            guard receiver.open(
                nonce: receiveNonce + UInt64(i), associatedData: noAD,
                inPlace: UnsafeMutableRawBufferPointer(start: source, count: length + Self.tagSize),
                plaintextLength: length)
            else { throw .badMAC }
            // Close the gap left by the previous tags.
            if i > 0 { (base + i * Self.maxChunkSize).copyMemory(from: source, byteCount: length) }
        }
        receiveNonce += UInt64(chunks)
    }
}
