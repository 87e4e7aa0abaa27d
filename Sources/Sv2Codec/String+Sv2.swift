extension String {
    /// Copies an `STR0_255` field into an owned message so that the message always encodes again.
    ///
    /// Valid UTF-8 is kept byte for byte. The wire type does not promise UTF-8 (SRI does not check), and
    /// `String(decoding:)` replaces each invalid byte with U+FFFD (3 bytes), so a 255-byte field could come out longer
    /// than its type allows and the decoded message would fail to encode (found by fuzzing: a proxy re-sending it would
    /// throw). The repaired text is therefore cut back to 255 bytes at a scalar boundary.
    init(decodingSTR0_255 bytes: Sv2Bytes) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.count > 255 else {
            self = text
            return
        }
        var kept = String.UnicodeScalarView()
        var size = 0
        for scalar in text.unicodeScalars {
            size += UTF8.width(scalar)
            if size > 255 { break }
            kept.append(scalar)
        }
        self = String(kept)
    }
}
