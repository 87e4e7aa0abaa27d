import Foundation
import Testing
import Sv2Codec

/// `Sv2Bytes`, the byte view message views hand out: reads, bounds, equality, copy-out, and that decoded views point
/// into the payload (zero-copy) rather than at a copy.
struct Sv2BytesTests {
    @Test func readsTheBytesItViews() {
        let bytes: [UInt8] = [0xde, 0xad, 0xbe, 0xef, 0x01]
        bytes.withUnsafeBytes { raw in
            let view = Sv2Bytes(unsafeBytes: raw)
            #expect(view.count == 5)
            #expect(!view.isEmpty)
            #expect(view[0] == 0xde && view[4] == 0x01)
            #expect(Array(view) == bytes)
            #expect(Data(view) == Data(bytes))
            #expect(view.description == "deadbeef01")
            #expect(view.loadLittleEndianUInt32(at: 0) == 0xefbe_adde)
            #expect(view.loadLittleEndianUInt32(at: 1) == 0x01ef_bead)
            #expect(Array(view.extracting(1..<3)) == [0xad, 0xbe])
            #expect(view.extracting(5..<5).isEmpty)
            #expect(view.withUnsafeBytes { $0.baseAddress } == raw.baseAddress)
            #expect(view.withContiguousStorageIfAvailable { $0.count } == 5)
        }
    }

    @Test func emptyViews() {
        let empty = Sv2Bytes()
        #expect(empty.isEmpty && empty.count == 0)
        #expect(Array(empty) == [])
        #expect(empty.description == "")
        #expect(empty == [])
        #expect(empty != [0])
        [UInt8]().withUnsafeBytes { raw in
            #expect(Sv2Bytes(unsafeBytes: raw) == empty)
        }
        [UInt8](repeating: 9, count: 4).withUnsafeBytes { raw in
            // An empty slice of non-empty memory equals the empty view.
            #expect(Sv2Bytes(unsafeBytes: raw).extracting(2..<2) == empty)
        }
    }

    @Test func equalityComparesContentNotAddress() {
        let a: [UInt8] = [1, 2, 3]
        let b: [UInt8] = [1, 2, 3]
        let c: [UInt8] = [1, 2, 4]
        a.withUnsafeBytes { ra in
            b.withUnsafeBytes { rb in
                c.withUnsafeBytes { rc in
                    let va = Sv2Bytes(unsafeBytes: ra), vb = Sv2Bytes(unsafeBytes: rb), vc = Sv2Bytes(unsafeBytes: rc)
                    #expect(va == vb)
                    #expect(va != vc)
                    #expect(va != va.extracting(0..<2))
                    #expect(va == [1, 2, 3])
                    #expect([1, 2, 3] == va)
                    #expect(va != [1, 2])
                    #expect([1, 2, 3, 4] != va)
                    #expect(vc != a)
                    #expect(va.elementsEqual(b))
                }
            }
        }
    }

    @Test func copiesOutlivePayload() {
        var payload: [UInt8] = [5, 6, 7]
        let copy = payload.withUnsafeBytes { Array(Sv2Bytes(unsafeBytes: $0)) }
        payload[0] = 0
        #expect(copy == [5, 6, 7])
    }

    @Test func decodedFieldsPointIntoThePayload() throws {
        let message = SubmitSharesExtended(
            channelID: 1, sequenceNumber: 2, jobID: 3, nonce: 4, ntime: 5, version: 6, extranonce: [9, 8, 7],
            extensionData: [0xaa, 0xbb])
        let payload = try message.encodedPayload()
        try payload.withUnsafeBytes { raw in
            let view = try SubmitSharesExtendedView(payload: Sv2Bytes(unsafeBytes: raw))
            #expect(view.extranonce == [9, 8, 7])
            #expect(view.trailingBytes == [0xaa, 0xbb])
            // Zero-copy: the field is the payload's own bytes (6 × U32, then the 1-byte length prefix).
            #expect(view.extranonce.withUnsafeBytes { $0.baseAddress } == raw.baseAddress! + 25)
            #expect(view.trailingBytes.withUnsafeBytes { $0.baseAddress } == raw.baseAddress! + 28)
        }
    }

    @Test func byteStringSequenceElementsAreViews() throws {
        let message = ProvideMissingTransactionsSuccess(requestID: 1, transactionList: [[1, 2], [], [3]])
        let payload = try message.encodedPayload()
        try payload.withUnsafeBytes { raw in
            let view = try ProvideMissingTransactionsSuccessView(payload: Sv2Bytes(unsafeBytes: raw))
            #expect(view.transactionList.map { Array($0) } == [[1, 2], [], [3]])
        }
    }

    /// Reading past the end traps (like `Array`) instead of reading the neighbouring memory.
    @Test func outOfBoundsReadTraps() async {
        await #expect(processExitsWith: .failure) {
            let bytes: [UInt8] = [1, 2, 3]
            let index = bytes.count  // not a literal, so the check happens at run time
            _ = bytes.withUnsafeBytes { Sv2Bytes(unsafeBytes: $0)[index] }
        }
        await #expect(processExitsWith: .failure) {
            let bytes: [UInt8] = [1, 2, 3]
            let index = -1
            _ = bytes.withUnsafeBytes { Sv2Bytes(unsafeBytes: $0)[index] }
        }
        await #expect(processExitsWith: .failure) {
            let bytes: [UInt8] = [1, 2, 3]
            let end = bytes.count + 1
            _ = bytes.withUnsafeBytes { Sv2Bytes(unsafeBytes: $0).extracting(1..<end) }
        }
        await #expect(processExitsWith: .failure) {
            let bytes: [UInt8] = [1, 2, 3, 4]
            let offset = 1
            _ = bytes.withUnsafeBytes { Sv2Bytes(unsafeBytes: $0).loadLittleEndianUInt32(at: offset) }
        }
    }
}
