import CCrypto

/// One direction of a ``NoiseSession``: ChaCha20-Poly1305 under one key, held inline.
///
/// Like ``ChaChaPolyCipher`` (same size cut-over, same results), but without a heap allocation per session: the C
/// fast path's prepared key lives in the struct, and the OpenSSL context for messages above
/// ``ChaChaPolyCipher/fastPathLimit`` bytes is created on the first such message (most connections never send one:
/// every share-path frame is far smaller), from the key words the prepared key already holds. Non-copyable: the
/// OpenSSL context has one owner, freed in `deinit`.
struct TransportCipher: ~Copyable {
    private var fast = cshims_chachapoly()
    private var large: OpaquePointer?

    init(key: Bytes32) {
        var prepared = cshims_chachapoly()
        key.withUnsafeBytes { cshims_chachapoly_init(&prepared, $0.bytes) }
        fast = prepared
    }

    // OpenSSL wipes its copy of the key when freeing the context. The inline key words are not wiped here: `self`
    // is immutable in a deinit, and a value that moves leaves copies no wipe could reach anyway.
    deinit {
        cshims_aead_free(large)
    }

    /// Encrypts `buffer[0..<plaintextLength]` in place with nonce `n` and writes the tag right after it.
    mutating func seal(
        nonce n: UInt64, associatedData: UnsafeRawBufferPointer, inPlace buffer: UnsafeMutableRawBufferPointer,
        plaintextLength: Int
    ) {
        precondition(plaintextLength >= 0 && buffer.count >= plaintextLength + ChaChaPolyCipher.tagSize, "buffer too small")
        let ok: Int32
        if plaintextLength <= ChaChaPolyCipher.fastPathLimit {
            ok = withNonce(n) { iv in
                cshims_chachapoly_seal(&fast, iv, associatedData.baseAddress, associatedData.count, buffer.bytes, plaintextLength)
            }
        } else {
            let context = largeContext()
            ok = withNonce(n) { iv in
                cshims_aead_seal(context, iv, associatedData.baseAddress, associatedData.count, buffer.bytes, plaintextLength)
            }
        }
        // Only fails on misuse (wrong lengths), which the precondition rules out.
        precondition(ok == 1, "ChaCha20-Poly1305 seal failed")
    }

    /// Decrypts `plaintextLength` bytes at the start of `buffer` in place, checking the tag that follows them;
    /// `false` if it is wrong (see ``ChaChaPolyCipher/open(nonce:associatedData:inPlace:plaintextLength:)``).
    mutating func open(
        nonce n: UInt64, associatedData: UnsafeRawBufferPointer, inPlace buffer: UnsafeMutableRawBufferPointer,
        plaintextLength: Int
    ) -> Bool {
        precondition(plaintextLength >= 0 && buffer.count >= plaintextLength + ChaChaPolyCipher.tagSize, "buffer too small")
        if plaintextLength <= ChaChaPolyCipher.fastPathLimit {
            return withNonce(n) { iv in
                cshims_chachapoly_open(&fast, iv, associatedData.baseAddress, associatedData.count, buffer.bytes, plaintextLength)
            } == 1
        }
        let context = largeContext()
        return withNonce(n) { iv in
            cshims_aead_open(context, iv, associatedData.baseAddress, associatedData.count, buffer.bytes, plaintextLength)
        } == 1
    }

    /// The OpenSSL context, created on first use from the key words of the prepared key (RFC 8439 key words
    /// 4…11, little endian: the 32 key bytes in order).
    private mutating func largeContext() -> OpaquePointer {
        if let large { return large }
        var key = Bytes32()
        key.withUnsafeMutableBytes { out in
            withUnsafeBytes(of: fast.words) { words in
                for i in 0..<8 {
                    let word = words.loadUnaligned(fromByteOffset: 16 + 4 * i, as: UInt32.self)
                    out.storeBytes(of: word.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            }
        }
        let context = key.withUnsafeBytes { cshims_aead_new($0.bytes) }
        key.withUnsafeMutableBytes { cshims_cleanse($0.baseAddress!, 32) }
        // Only fails when OpenSSL cannot allocate a few hundred bytes.
        guard let context else { fatalError("OpenSSL could not create a ChaCha20-Poly1305 context") }
        large = context
        return context
    }
}
