import Sv1
import Testing
@testable import Sv2LoadTest

/// The byte-for-byte fast path for accepted-share answers takes exactly that line and leaves everything else to the
/// JSON parser.
struct Sv1AcceptedAnswerTests {
    static func id(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { Sv1AcceptedAnswer.id(in: UnsafeRawBufferPointer($0)) }
    }

    @Test func recognisesTheTranslatorsAcceptance() {
        // What `sv2 translator` writes, minus the newline the splitter strips.
        #expect(Self.id(String(Sv1Line.result(id: .number(16), "true").dropLast())) == 16)
        #expect(Self.id(#"{"id":0,"result":true,"error":null}"#) == 0)
        #expect(Self.id(#"{"id":123456789012345678,"result":true,"error":null}"#) == 123_456_789_012_345_678)
    }

    @Test func leavesEverythingElseToTheParser() {
        for line in [
            #"{"id":16,"result":false,"error":null}"#,
            #"{"id":16,"result":true,"error":null,"x":1}"#,
            #"{"id": 16,"result":true,"error":null}"#,
            #"{"id":"16","result":true,"error":null}"#,
            #"{"id":-16,"result":true,"error":null}"#,
            #"{"id":016,"result":true,"error":null}"#,
            #"{"id":1x,"result":true,"error":null}"#,
            #"{"id":,"result":true,"error":null}"#,
            #"{"id":1234567890123456789,"result":true,"error":null}"#,
            #"{"id":16,"result":null,"error":[23,"low difficulty",null]}"#,
            #"{"result":true,"error":null,"id":16}"#,
            "",
        ] {
            #expect(Self.id(line) == nil, "\(line)")
        }
    }
}
