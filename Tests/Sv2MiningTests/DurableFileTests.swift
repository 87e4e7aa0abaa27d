import Glibc
import Testing
@testable import Sv2Mining

/// `DurableFile` against real descriptors that fail (no injected journal): a write to `/dev/full` and an fsync of a
/// pipe come back as the call and its errno, and the block journal turns them into its typed error with its path.
@Suite struct DurableFileTests {
    @Test func aFullDeviceFailsTheWriteWithItsErrno() throws {
        let descriptor = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(descriptor >= 0, "no /dev/full here")
        defer { close(descriptor) }
        #expect(throws: DurableFile.Failure(call: "write", errno: ENOSPC)) {
            try DurableFile.writeAll(Array("a line\n".utf8), to: descriptor)
        }
        // Nothing to write is no write at all.
        try DurableFile.writeAll([], to: descriptor)
    }

    @Test func aPipeCannotBeSynced() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        #expect(throws: DurableFile.Failure(call: "fsync", errno: EINVAL)) { try DurableFile.sync(ends[1]) }
    }

    /// The money path end to end: a found block the journal cannot write is a typed error naming the call, the file
    /// and the errno (the pool still submits the block and counts the failure: `FoundBlockTests`).
    @Test func theBlockJournalReportsAFullDisk() throws {
        let journal = try BlockJournal(file: "/dev/full")
        let entry = BlockJournalEntry(event: .submitted, hash: .zero, time: 1_700_000_000)
        #expect(throws: BlockJournalError.system(call: "write", path: "/dev/full", errno: ENOSPC)) {
            try journal.append(entry)
        }
    }
}
