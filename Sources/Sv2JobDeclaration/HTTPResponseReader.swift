/// Reads one HTTP/1.1 response as its bytes arrive (a Bitcoin Core RPC answer): status line, headers, then a body
/// delimited by `Content-Length`, `Transfer-Encoding: chunked` or the end of the connection. Everything is bounded:
/// the head by ``maximumHeadBytes``, head and body together by the limit given. Each byte is looked at a bounded
/// number of times (the head is searched once, chunks are decoded as they complete).
struct HTTPResponseReader {
    /// A complete response.
    struct Response: Equatable {
        var status: Int
        var body: [UInt8]
    }

    /// Where reading stands.
    enum State: Equatable {
        /// More bytes needed.
        case incomplete
        /// The response is complete.
        case complete(Response)
        /// Not an HTTP response; the reason.
        case malformed(String)
        /// More than the limit.
        case tooLarge
    }

    /// Largest status line and headers accepted.
    static let maximumHeadBytes = 16 << 10

    let limit: Int
    private var bytes: [UInt8] = []
    private var total = 0
    private var status = 0
    private var headEnd: Int?
    private var contentLength: Int?
    private var chunked = false
    /// Chunked body: the decoded body so far and the offset of the next chunk-size line.
    private var body: [UInt8] = []
    private var chunkOffset = 0
    private var scanFrom = 0
    private(set) var state = State.incomplete

    /// A reader accepting at most `limit` bytes in all.
    init(limit: Int) { self.limit = limit }

    /// Takes the next bytes of the connection.
    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        guard state == .incomplete else { return }
        total += chunk.count
        guard total <= limit else {
            state = .tooLarge
            bytes = []
            return
        }
        bytes.append(contentsOf: chunk)
        advance(atEnd: false)
    }

    /// The connection ended: a body delimited by the end is complete now (anything else stays incomplete).
    mutating func finish() {
        guard state == .incomplete else { return }
        advance(atEnd: true)
    }

    private mutating func advance(atEnd: Bool) {
        if headEnd == nil {
            guard let end = findHeadEnd() else {
                if bytes.count > Self.maximumHeadBytes { state = .malformed("HTTP head larger than 16 KiB") }
                return
            }
            guard end <= Self.maximumHeadBytes else {
                state = .malformed("HTTP head larger than 16 KiB")
                return
            }
            headEnd = end
            if let problem = parseHead(bytes[..<end]) {
                state = .malformed(problem)
                return
            }
            guard state == .incomplete else { return }
            chunkOffset = end
        }
        let start = headEnd!
        if chunked {
            decodeChunks()
        } else if let contentLength {
            if bytes.count - start >= contentLength {
                state = .complete(Response(status: status, body: Array(bytes[start..<(start + contentLength)])))
            }
        } else if atEnd {
            state = .complete(Response(status: status, body: Array(bytes[start...])))
        }
    }

    /// The index just past the blank line ending the head, searching only bytes not searched before.
    private mutating func findHeadEnd() -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = Swift.max(3, scanFrom)
        while index < bytes.count {
            if bytes[index] == 0x0a, bytes[index - 1] == 0x0d, bytes[index - 2] == 0x0a, bytes[index - 3] == 0x0d {
                return index + 1
            }
            index += 1
        }
        scanFrom = index
        return nil
    }

    /// Status and framing headers; a reason when the head is not acceptable.
    private mutating func parseHead(_ head: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard let statusLine = lines.first else { return "empty HTTP head" }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let code = Int(parts[1]),
              (100...599).contains(code)
        else { return "not an HTTP/1.x status line" }
        status = code
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return "header line without a colon" }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces
            switch name {
            case "content-length":
                guard let length = Int(value), length >= 0 else { return "bad Content-Length" }
                guard contentLength == nil || contentLength == length else { return "conflicting Content-Length" }
                guard length <= limit else {
                    state = .tooLarge
                    return nil
                }
                contentLength = length
            case "transfer-encoding":
                if value.lowercased() == "chunked" { chunked = true } else { return "unsupported Transfer-Encoding \(value)" }
            default:
                break
            }
        }
        if chunked { contentLength = nil }
        return nil
    }

    /// Decodes every complete chunk after `chunkOffset`; completes at the last (zero-size) chunk.
    private mutating func decodeChunks() {
        while true {
            guard let lineEnd = crlf(from: chunkOffset) else {
                if bytes.count - chunkOffset > 1_024 { state = .malformed("chunk size line too long") }
                return
            }
            let sizeText = String(decoding: bytes[chunkOffset..<lineEnd], as: UTF8.self)
                .split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces } ?? ""
            guard !sizeText.isEmpty, sizeText.count <= 8, let size = Int(sizeText, radix: 16) else {
                state = .malformed("bad chunk size")
                return
            }
            let dataStart = lineEnd + 2
            if size == 0 {
                // Trailers are not used by bitcoind; the response is complete at the last chunk's line.
                state = .complete(Response(status: status, body: body))
                return
            }
            guard bytes.count >= dataStart + size + 2 else { return }
            guard bytes[dataStart + size] == 0x0d, bytes[dataStart + size + 1] == 0x0a else {
                state = .malformed("chunk not followed by CRLF")
                return
            }
            body.append(contentsOf: bytes[dataStart..<(dataStart + size)])
            chunkOffset = dataStart + size + 2
        }
    }

    private func crlf(from offset: Int) -> Int? {
        var index = offset
        while index + 1 < bytes.count {
            if bytes[index] == 0x0d, bytes[index + 1] == 0x0a { return index }
            index += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
