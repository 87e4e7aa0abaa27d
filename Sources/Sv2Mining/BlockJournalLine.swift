import Sv2Codec
import Sv2Bitcoin

/// One line of the block journal read back: the flat JSON object ``BlockJournalEntry/jsonLine`` writes (string and
/// unsigned integer values only), parsed by hand so the reader needs no JSON library and can say which field of
/// which line went wrong.
enum BlockJournalLine {
    /// A value of the flat object.
    enum Value: Equatable {
        case string(String)
        case number(UInt64)
    }

    /// Why parsing stopped: the field being read, and what was wrong (`nil`: the line ended too early).
    struct Failure: Error {
        var field: String
        var problem: String?
    }

    /// The key/value pairs of a flat JSON object in `bytes`; a repeated key is refused.
    static func fields(_ bytes: ArraySlice<UInt8>) throws(Failure) -> [String: Value] {
        var reader = ByteReader(bytes: bytes)
        var fields: [String: Value] = [:]
        var field = "(line)"
        reader.skipSpace()
        guard let open = reader.next() else { throw Failure(field: field, problem: nil) }
        guard open == UInt8(ascii: "{") else { throw Failure(field: field, problem: "not a JSON object") }
        reader.skipSpace()
        if reader.peek() == UInt8(ascii: "}") {
            _ = reader.next()
        } else {
            while true {
                reader.skipSpace()
                guard let quote = reader.next() else { throw Failure(field: field, problem: nil) }
                guard quote == UInt8(ascii: "\"") else { throw Failure(field: field, problem: "a key must be a string") }
                let key = try reader.string(field: field)
                field = key
                guard fields[key] == nil else { throw Failure(field: key, problem: "appears twice") }
                reader.skipSpace()
                guard let colon = reader.next() else { throw Failure(field: field, problem: nil) }
                guard colon == UInt8(ascii: ":") else { throw Failure(field: field, problem: "':' expected after the key") }
                reader.skipSpace()
                guard let first = reader.peek() else { throw Failure(field: field, problem: nil) }
                if first == UInt8(ascii: "\"") {
                    _ = reader.next()
                    fields[key] = .string(try reader.string(field: field))
                } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) {
                    fields[key] = .number(try reader.number(field: field))
                } else {
                    throw Failure(field: field, problem: "only strings and unsigned integers are journal values")
                }
                reader.skipSpace()
                guard let separator = reader.next() else { throw Failure(field: field, problem: nil) }
                if separator == UInt8(ascii: "}") { break }
                guard separator == UInt8(ascii: ",") else { throw Failure(field: field, problem: "',' or '}' expected") }
            }
        }
        reader.skipSpace()
        guard reader.peek() == nil else { throw Failure(field: "(end)", problem: "text after the object") }
        return fields
    }

    /// A cursor over one line's bytes.
    private struct ByteReader {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        func peek() -> UInt8? { index < bytes.endIndex ? bytes[index] : nil }

        mutating func next() -> UInt8? {
            guard index < bytes.endIndex else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func skipSpace() {
            while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0d { index += 1 }
        }

        /// An unsigned decimal integer (no sign, fraction, exponent or leading zero), checked against overflow.
        mutating func number(field: String) throws(Failure) -> UInt64 {
            var value: UInt64 = 0
            let start = index
            while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowSum) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                guard !overflowTimes, !overflowSum else { throw Failure(field: field, problem: "number too large") }
                value = sum
                index += 1
            }
            if index - start > 1, bytes[start] == UInt8(ascii: "0") {
                throw Failure(field: field, problem: "number with a leading zero")
            }
            if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                throw Failure(field: field, problem: "only unsigned integers are journal numbers")
            }
            return value
        }

        /// The rest of a string literal whose opening quote was read: escapes decoded, valid UTF-8 required.
        mutating func string(field: String) throws(Failure) -> String {
            var out: [UInt8] = []
            while true {
                guard let byte = next() else { throw Failure(field: field, problem: nil) }
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw Failure(field: field, problem: "string is not valid UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    guard let escape = next() else { throw Failure(field: field, problem: nil) }
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4(field: field)
                        if (0xd800..<0xdc00).contains(scalar) {
                            // A surrogate pair: the low half must follow.
                            guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else {
                                throw Failure(field: field, problem: "unpaired surrogate in \\u escape")
                            }
                            let low = try hex4(field: field)
                            guard (0xdc00..<0xe000).contains(low) else {
                                throw Failure(field: field, problem: "unpaired surrogate in \\u escape")
                            }
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else {
                            throw Failure(field: field, problem: "invalid \\u escape")
                        }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default:
                        throw Failure(field: field, problem: "unknown escape \\\(Unicode.Scalar(escape))")
                    }
                default:
                    guard byte >= 0x20 else { throw Failure(field: field, problem: "control character in a string") }
                    out.append(byte)
                }
            }
        }

        private mutating func hex4(field: String) throws(Failure) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = next() else { throw Failure(field: field, problem: nil) }
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw Failure(field: field, problem: "invalid \\u escape")
                }
                value = value << 4 | digit
            }
            return value
        }
    }
}

extension BlockJournalEntry {
    /// Reads back a line ``jsonLine`` wrote (without its newline). `lineNumber` is 1-based and only used in errors;
    /// `complete` is whether the line ended with its newline: a line that was cut short and does not parse is
    /// reported as ``BlockJournalReadError/truncated(line:field:)``.
    ///
    /// Checked beyond the JSON shape: the event is one of ``Event``; hashes are 64 hex digits; with a block record
    /// every one of its fields is present, its header is 80 bytes whose hash is `hash` and whose previous block is
    /// `prev_hash`; `block` (the whole serialized block) starts with a header whose hash is `hash`, so what would be
    /// submitted is the block the line names. Unknown keys are ignored (a newer writer's additions).
    public init(jsonLine bytes: ArraySlice<UInt8>, lineNumber: Int, complete: Bool = true) throws(BlockJournalReadError) {
        let fields: [String: BlockJournalLine.Value]
        do throws(BlockJournalLine.Failure) { fields = try BlockJournalLine.fields(bytes) } catch {
            if let problem = error.problem { throw .malformed(line: lineNumber, field: error.field, problem: problem) }
            if complete { throw .malformed(line: lineNumber, field: error.field, problem: "the line ends inside the object") }
            throw .truncated(line: lineNumber, field: error.field)
        }
        func fail(_ field: String, _ problem: String) -> BlockJournalReadError {
            .malformed(line: lineNumber, field: field, problem: problem)
        }
        func string(_ key: String) throws(BlockJournalReadError) -> String? {
            switch fields[key] {
            case nil: return nil
            case .string(let text): return text
            case .number: throw fail(key, "a string expected")
            }
        }
        func number(_ key: String) throws(BlockJournalReadError) -> UInt64? {
            switch fields[key] {
            case nil: return nil
            case .number(let value): return value
            case .string: throw fail(key, "a number expected")
            }
        }
        func required<T>(_ value: T?, _ key: String) throws(BlockJournalReadError) -> T {
            guard let value else { throw fail(key, "missing") }
            return value
        }
        func hash(_ key: String) throws(BlockJournalReadError) -> Hash256? {
            guard let text = try string(key) else { return nil }
            guard text.utf8.count == 64, let value = Hash256(displayHex: text) else { throw fail(key, "not 64 hex digits") }
            return value
        }
        func hex(_ key: String) throws(BlockJournalReadError) -> [UInt8]? {
            guard let text = try string(key) else { return nil }
            guard let bytes = Sv2Hex.decode(text) else { throw fail(key, "not hex") }
            return bytes
        }

        let time = try required(try number("time"), "time")
        let eventName = try required(try string("event"), "event")
        guard let event = Event(rawValue: eventName) else { throw fail("event", "unknown event \"\(eventName.prefix(32))\"") }
        let blockHash = try required(try hash("hash"), "hash")
        var record: FoundBlock?
        var height: UInt32?
        if let headerBytes = try hex("header") {
            guard let header = BlockHeader(bytes: headerBytes), headerBytes.count == BlockHeader.size else {
                throw fail("header", "not \(BlockHeader.size) bytes")
            }
            guard header.hash == blockHash else { throw fail("header", "its hash is \(header.hash), not the line's hash") }
            let prevHash = try required(try hash("prev_hash"), "prev_hash")
            guard header.prevHash == prevHash else { throw fail("prev_hash", "differs from the header's previous block") }
            let templateID = try required(try number("template_id"), "template_id")
            let channel = try required(try number("channel_id"), "channel_id")
            guard let channelID = UInt32(exactly: channel) else { throw fail("channel_id", "out of range") }
            let user = try required(try string("user"), "user")
            let coinbase = try required(try hex("coinbase"), "coinbase")
            if let value = try number("height") {
                guard let value = UInt32(exactly: value) else { throw fail("height", "out of range") }
                height = value
            }
            record = FoundBlock(
                hash: blockHash, header: header, templateID: templateID, channelID: channelID, userIdentity: user,
                coinbaseTransaction: coinbase)
        } else {
            // Without a header there is no block record: its other fields would be orphans.
            for key in ["prev_hash", "height", "template_id", "channel_id", "user", "coinbase"] where fields[key] != nil {
                throw fail(key, "present without header")
            }
        }
        let blockData = try hex("block")
        if let blockData {
            guard blockData.count > BlockHeader.size, let header = BlockHeader(bytes: Array(blockData.prefix(BlockHeader.size))) else {
                throw fail("block", "shorter than a header and a transaction")
            }
            guard header.hash == blockHash else { throw fail("block", "its header's hash is \(header.hash), not the line's hash") }
        }
        self.init(
            event: event, hash: blockHash, time: time, block: record, height: height, reason: try string("reason"),
            blockData: blockData)
    }
}
