/// Splits a byte stream into Sv1's newline-delimited lines, with a cap on line length.
///
/// Sv1 has no length prefix: a peer that never sends `\n` could make a reader buffer without bound, so a line
/// (or an unterminated tail) longer than `maxLineLength` is an error and the connection must be closed. A trailing
/// `\r` is dropped (some firmware sends CRLF); empty lines are skipped.
public struct Sv1LineSplitter: Sendable {
    /// The longest line accepted, in bytes, without its terminator.
    public let maxLineLength: Int

    /// Creates a splitter; `maxLineLength` is clamped to at least 64 bytes.
    public init(maxLineLength: Int = 16 << 10) {
        self.maxLineLength = Swift.max(64, maxLineLength)
    }

    /// Calls `body` with every complete line in `bytes` (valid only during the call) and returns how many bytes
    /// were consumed; the unconsumed tail is an incomplete line to present again with more bytes. `body` returns
    /// `false` to stop early (the bytes up to and including that line count as consumed).
    ///
    /// Throws ``Sv1ProtocolError/lineTooLong(limit:)`` when a line, or the incomplete tail, exceeds the cap.
    public func split(
        _ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool
    ) throws(Sv1ProtocolError) -> Int {
        var start = 0
        var index = 0
        let count = bytes.count
        while index < count {
            if bytes[index] == UInt8(ascii: "\n") {
                var end = index
                if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                guard end - start <= maxLineLength else { throw .lineTooLong(limit: maxLineLength) }
                let consumed = index + 1
                if end > start {
                    let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                    if !body(line) { return consumed }
                }
                start = consumed
            }
            index += 1
        }
        guard count - start <= maxLineLength else { throw .lineTooLong(limit: maxLineLength) }
        return start
    }
}
