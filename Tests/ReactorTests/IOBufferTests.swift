import Glibc
import Testing
@testable import Reactor

/// `IOBuffer` holds the reactor's manual memory handling: every index move, the compaction, growth and the loan an
/// io_uring send holds on the bytes.
@Suite("IOBuffer")
struct IOBufferTests {
    private func write(_ buffer: inout IOBuffer, _ bytes: [UInt8], minimumCapacity: Int = 16) {
        buffer.reserve(bytes.count, minimumCapacity: minimumCapacity)
        bytes.withUnsafeBytes { buffer.writable.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        buffer.commit(bytes.count)
    }

    private func unread(_ buffer: IOBuffer) -> [UInt8] { Array(UnsafeRawBufferPointer(buffer.readable)) }

    @Test func startsWithoutStorage() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        #expect(buffer.storage == nil && buffer.capacity == 0)
        #expect(buffer.isEmpty && buffer.readableBytes == 0 && buffer.readable.count == 0)
    }

    @Test func writesAndConsumesInOrder() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, [1, 2, 3, 4, 5])
        #expect(buffer.capacity == 16)
        #expect(unread(buffer) == [1, 2, 3, 4, 5])
        buffer.consume(2)
        #expect(unread(buffer) == [3, 4, 5] && buffer.readerIndex == 2)
        buffer.consume(3)
        // Fully consumed: both indices return to the start, the storage stays.
        #expect(buffer.isEmpty && buffer.readerIndex == 0 && buffer.writerIndex == 0 && buffer.capacity == 16)
    }

    @Test func slidesUnreadBytesToTheFrontInsteadOfGrowing() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, Array(0..<12))
        buffer.consume(10)
        let storage = buffer.storage
        write(&buffer, Array(100..<110))  // 2 unread + 10 new fit the 16 bytes once moved to the front
        #expect(buffer.capacity == 16 && buffer.storage == storage)
        #expect(unread(buffer) == [10, 11] + Array(100..<110))
    }

    @Test func growsByDoublingAndKeepsTheBytes() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, Array(0..<10))
        buffer.consume(3)
        write(&buffer, Array(repeating: 7, count: 30))
        #expect(buffer.capacity == 64)  // 16 → 32 → 64 for 37 bytes
        #expect(unread(buffer) == Array(3..<10) + Array(repeating: 7, count: 30))
        #expect(buffer.readerIndex == 0)
    }

    @Test func appendCopiesBytes() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        let bytes: [UInt8] = Array(0..<100)
        bytes.withUnsafeBytes { buffer.append($0.baseAddress!, 40, minimumCapacity: 32) }
        bytes.withUnsafeBytes { buffer.append($0.baseAddress! + 40, 60, minimumCapacity: 32) }
        #expect(unread(buffer) == bytes)
        #expect(buffer.capacity == 128)
    }

    @Test func shrinksOnlyWhenEmptyAndLarger() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, [1, 2, 3])
        buffer.shrinkIfEmpty(keep: 0)
        #expect(buffer.capacity == 16)  // not empty
        buffer.consume(3)
        buffer.shrinkIfEmpty(keep: 16)
        #expect(buffer.capacity == 16)  // not larger than keep
        buffer.shrinkIfEmpty(keep: 8)
        #expect(buffer.storage == nil && buffer.capacity == 0)
    }

    /// While the kernel reads lent bytes, growth must not move or free them: the new bytes go to fresh storage, the
    /// lent block stays until the loan is settled, and only then is it freed.
    @Test func growthDuringALoanKeepsTheLentBlock() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, Array(0..<16))
        let lentBlock = buffer.storage!
        buffer.lend(16)
        #expect(buffer.lent == 16)
        write(&buffer, Array(16..<40))
        #expect(buffer.storage != lentBlock && buffer.retired == lentBlock)
        // The lent block still holds what the kernel is sending.
        #expect(Array(UnsafeRawBufferPointer(start: lentBlock, count: 16)) == Array(0..<16))
        write(&buffer, Array(40..<100))
        // A block that became current after the loan was never lent: it is freed, the lent one is kept.
        #expect(buffer.retired == lentBlock)
        #expect(unread(buffer) == Array(0..<100))
        buffer.settleLoan(consumed: 10)
        #expect(buffer.lent == 0 && buffer.retired == nil)
        #expect(unread(buffer) == Array(10..<100))
    }

    @Test func settlingAFailedSendKeepsTheBytes() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, Array(0..<8))
        buffer.lend(8)
        buffer.settleLoan(consumed: -1)
        #expect(unread(buffer) == Array(0..<8) && buffer.lent == 0)
        buffer.lend(8)
        buffer.settleLoan(consumed: 100)  // never more than was lent
        #expect(buffer.isEmpty)
    }

    @Test func compactionWaitsForTheLoan() {
        var buffer = IOBuffer()
        defer { buffer.deallocate() }
        write(&buffer, Array(0..<16))
        buffer.lend(4)
        let lentBlock = buffer.storage!
        // Room exists only once the lent bytes leave; while they are lent the block may not be rewritten.
        write(&buffer, [99])
        #expect(buffer.retired == lentBlock)
        #expect(unread(buffer) == Array(0..<16) + [99])
        buffer.settleLoan(consumed: 4)
        #expect(unread(buffer) == Array(4..<16) + [99])
    }
}
