import Foundation
import Sv1
import Testing

private func split(_ text: String, limit: Int = 64) throws(Sv1ProtocolError) -> (lines: [String], consumed: Int) {
    var lines: [String] = []
    var bytes = Array(text.utf8)
    let splitter = Sv1LineSplitter(maxLineLength: limit)
    var result: Result<Int, Sv1ProtocolError> = .success(0)
    bytes.withUnsafeMutableBytes { raw in
        do throws(Sv1ProtocolError) {
            result = .success(try splitter.split(UnsafeRawBufferPointer(raw)) { line in
                lines.append(String(decoding: line, as: UTF8.self))
                return true
            })
        } catch {
            result = .failure(error)
        }
    }
    return (lines, try result.get())
}

@Suite("Sv1: line splitting and request parsing")
struct Sv1ParserTests {
    @Test func splitsLinesTrimsCRAndKeepsTheTail() throws {
        let (lines, consumed) = try split("a\r\n\n\nbc\nunfinished")
        #expect(lines == ["a", "bc"])
        #expect(consumed == "a\r\n\n\nbc\n".utf8.count)
    }

    @Test func overlongLinesAndTailsAreErrors() {
        let long = String(repeating: "x", count: 65)
        #expect(throws: Sv1ProtocolError.lineTooLong(limit: 64)) { try split(long + "\n") }
        #expect(throws: Sv1ProtocolError.lineTooLong(limit: 64)) { try split("ok\n" + long) }  // no newline yet
        #expect(throws: Never.self) { try split(String(repeating: "y", count: 64) + "\n") }
    }

    @Test func parsesEveryMethodWithItsParams() throws {
        let configure = try Sv1Request(line: #"{"id":"c","method":"mining.configure","params":[["version-rolling","minimum-difficulty"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2,"minimum-difficulty.value":2048}]}"#)
        #expect(configure.id == .string("c"))
        #expect(configure.method == .configure(Sv1Configure(
            extensions: ["version-rolling", "minimum-difficulty"], versionRollingMask: 0x1fff_e000,
            versionRollingMinBitCount: 2, minimumDifficulty: 2048)))
        #expect(try Sv1Request(line: #"{"id":2,"method":"mining.subscribe","params":[]}"#).method == .subscribe(userAgent: nil))
        #expect(try Sv1Request(line: #"{"id":3,"method":"mining.authorize","params":["w.1"]}"#).method
            == .authorize(user: "w.1", password: ""))
        #expect(try Sv1Request(line: #"{"id":4,"method":"mining.extranonce.subscribe","params":[]}"#).method == .extranonceSubscribe)
        #expect(try Sv1Request(line: #"{"id":5,"method":"mining.suggest_difficulty","params":[512]}"#).method == .suggestDifficulty(512))
        let submit = try Sv1Request(line: #"{"id":6,"method":"mining.submit","params":["w.1","1f","0a0b0c0d","6b0d8a80","DEADBEEF","00002000"]}"#)
        #expect(submit.method == .submit(Sv1Submit(
            worker: "w.1", jobID: "1f", extranonce2: [10, 11, 12, 13], ntime: 0x6b0d_8a80, nonce: 0xdead_beef,
            versionBits: 0x2000)))
        #expect(try Sv1Request(line: #"{"id":7,"method":"mining.hello","params":[]}"#).method == .unknown("mining.hello"))
        // A boolean id is not an id.
        #expect(try Sv1Request(line: #"{"id":true,"method":"mining.subscribe"}"#).id == .null)
    }

    /// The device handshake lines both simulated devices (the translator's CPU device, the Sv1 load test) send,
    /// byte for byte, and the translator's parser reads them back.
    @Test func deviceHandshakeLinesAreExactAndParse() throws {
        let configure = Sv1Line.configureVersionRolling(id: .number(1), mask: 0x1fff_e000)
        #expect(configure == #"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}"# + "\n")
        let subscribe = Sv1Line.subscribe(id: .number(2), userAgent: "swift-stratum-cpu/1.0")
        #expect(subscribe == #"{"id":2,"method":"mining.subscribe","params":["swift-stratum-cpu/1.0"]}"# + "\n")
        let authorize = Sv1Line.authorize(id: .number(3), user: "alice.\"rig\"", password: "x")
        #expect(authorize == #"{"id":3,"method":"mining.authorize","params":["alice.\"rig\"","x"]}"# + "\n")
        for line in [configure, subscribe, authorize] { _ = try Sv1Request(line: String(line.dropLast())) }
    }

    @Test func malformedRequestsAreTypedErrorsWithTheirID() {
        let cases: [(String, Sv1RequestError)] = [
            ("not json", .init(id: .null, error: .malformedJSON)),
            ("[1,2,3]", .init(id: .null, error: .malformedJSON)),
            (#"{"id":1}"#, .init(id: .number(1), error: .notJSONRPC)),
            (#"{"id":1,"method":7}"#, .init(id: .number(1), error: .notJSONRPC)),
            ("\u{0}\u{ff}{", .init(id: .null, error: .malformedJSON)),
        ]
        for (line, expected) in cases {
            #expect(throws: expected, "\(line)") { try Sv1Request(line: line) }
        }
        let badSubmits = [
            #"["w","1","zz","6b0d8a80","00000000"]"#,  // extranonce2 not hex
            #"["w","1","00","6b0d8a8","00000000"]"#,  // 7-digit ntime
            #"["w","1","00","6b0d8a80"]"#,  // too few params
            #"["w","1","00","6b0d8a80","00000000","1","2"]"#,  // too many
            #"[1,"1","00","6b0d8a80","00000000"]"#,  // worker not a string
            #"["w","1","00","6b0d8a80","00000000",5]"#,  // version bits not hex
        ]
        for params in badSubmits {
            #expect(performing: { try Sv1Request(line: #"{"id":9,"method":"mining.submit","params":"# + params + "}") },
                    throws: { ($0 as? Sv1RequestError)?.id == .number(9) })
        }
        #expect(throws: Sv1RequestError.self) {
            try Sv1Request(line: #"{"id":1,"method":"mining.suggest_difficulty","params":[-1]}"#)
        }
        // Nesting as deep as a capped line allows is refused, not a stack overflow.
        #expect(throws: Sv1RequestError.self) { try Sv1Request(line: String(repeating: "[", count: 4096)) }
        #expect(throws: Sv1RequestError.self) {
            try Sv1Request(line: #"{"id":1,"method":"mining.submit","params":"# + String(repeating: "[", count: 4000)
                + String(repeating: "]", count: 4000) + "}")
        }
    }

    /// Found by FuzzSv1: a number too large for `Int` (here a `client.reconnect` port of 10^60) trapped in the
    /// conversion. Numbers the message needs as integers must be whole and in range, else the field is absent or the
    /// message is invalid — never a crash.
    @Test func hugeOrFractionalNumbersNeverTrap() throws {
        func parse(_ text: String) throws -> Sv1ServerMessage {
            var line = text
            return try line.withUTF8 { try Sv1ServerMessage(line: UnsafeRawBufferPointer($0)) }
        }
        let huge = String(repeating: "3", count: 60)
        guard case .reconnect(let host, let port) = try parse(#"{"id":null,"method":"client.reconnect","params":["pool.example",\#(huge),0]}"#)
        else { throw TestFailure("not a reconnect") }
        #expect(host == "pool.example" && port == nil)
        guard case .reconnect(_, let fine) = try parse(#"{"id":null,"method":"client.reconnect","params":["p",3333]}"#)
        else { throw TestFailure("not a reconnect") }
        #expect(fine == 3333)
        #expect(throws: (any Error).self) {
            try parse(#"{"id":null,"method":"mining.set_extranonce","params":["00",1e300]}"#)
        }
        #expect(throws: (any Error).self) {
            try parse(#"{"id":null,"method":"mining.set_extranonce","params":["00",2.5]}"#)
        }
        guard case .response(_, .error(let code, _)) = try parse(#"{"id":1,"result":null,"error":[1e40,"x",null]}"#)
        else { throw TestFailure("not an error") }
        #expect(code == 20)
    }

    @Test func answersHaveTheShapesFirmwareExpects() {
        #expect(Sv1Line.error(id: .number(4), code: .lowDifficulty, message: "low \"difficulty\"")
            == "{\"id\":4,\"result\":null,\"error\":[23,\"low \\\"difficulty\\\"\",null]}\n")
        #expect(Sv1Line.result(id: .string("a\nb"), "true") == "{\"id\":\"a\\nb\",\"result\":true,\"error\":null}\n")
        #expect(Sv1Line.subscribeResult(id: .number(1), subscriptionID: "1", extranonce1: [0xab, 0x01], extranonce2Size: 4)
            == "{\"id\":1,\"result\":[[[\"mining.set_difficulty\",\"1\"],[\"mining.notify\",\"1\"]],\"ab01\",4],\"error\":null}\n")
        #expect(Sv1Line.configureResult(id: .number(1), versionRollingMask: 0x1fff_e000, minimumDifficulty: nil)
            == "{\"id\":1,\"result\":{\"version-rolling\":true,\"version-rolling.mask\":\"1fffe000\"},\"error\":null}\n")
        #expect(Sv1Line.setDifficulty(512) == "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[512]}\n")
        #expect(Sv1Line.reconnect() == "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}\n")
        #expect(Sv1Line.setExtranonce([1, 2], extranonce2Size: 4)
            == "{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"0102\",4]}\n")
    }

    @Test func quotedStringsEscapeWhatCouldEndALine() throws {
        let quoted = Sv1JSON.quote("a\"b\\c\n\r\t\u{01}\u{7f}\u{2028}\u{2029}é")
        #expect(quoted == #""a\"b\\c\n\r\t\u0001\u007f\u2028\u2029é""#)
        // And it is JSON that decodes back to the original text.
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(quoted)]".utf8)) as? [String]
        #expect(decoded == ["a\"b\\c\n\r\t\u{01}\u{7f}\u{2028}\u{2029}é"])
    }

    @Test func prevHashTravelsWithEachWordReversed() {
        let raw = (0..<32).map { UInt8($0) }
        let job = Sv1Notify(
            jobID: "1", prevHash: raw, coinbase1: [1], coinbase2: [2], merkleBranch: [[UInt8](repeating: 7, count: 32)],
            version: 0x2000_0000, nbits: 0x1d00_ffff, ntime: 0x6b0d_8a41, cleanJobs: true)
        #expect(job.paramsJSON.hasPrefix("[\"1\",\"03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c\",\"01\",\"02\",[\""))
        #expect(job.paramsJSON.hasSuffix("\"],\"20000000\",\"1d00ffff\",\"6b0d8a41\",true]"))
    }
}
