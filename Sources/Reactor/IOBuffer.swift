import Glibc

/// A growable byte buffer with a read and a write index, backed by manually managed memory.
///
/// All of the reactor's `unsafe` buffer arithmetic lives here. Storage is allocated lazily and can be
/// released while empty so idle connections hold no buffer. The owner must call ``deallocate()``.
///
/// The unread bytes can be *lent* to the kernel (an io_uring send reads them asynchronously): while a loan is out the
/// storage must not move or be freed, so growth copies into fresh storage and keeps the lent block until
/// ``settleLoan(consumed:)``.
struct IOBuffer {
    private(set) var storage: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    private(set) var readerIndex = 0
    private(set) var writerIndex = 0
    /// Bytes from the start of the unread ones that the kernel is reading (0: no loan).
    private(set) var lent = 0
    /// The block a loan was made from, when growth replaced it meanwhile (freed when the loan is settled).
    private(set) var retired: UnsafeMutableRawPointer?

    var readableBytes: Int { writerIndex - readerIndex }
    var isEmpty: Bool { writerIndex == readerIndex }

    /// Start of the unread bytes (only valid while `storage != nil`).
    var readPointer: UnsafeMutableRawPointer { storage! + readerIndex }

    var readable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage.map { $0 + readerIndex }, count: readableBytes)
    }

    /// Makes room for `count` more bytes after the unread ones.
    ///
    /// When `pinned` is true the current storage must not move or be freed (a send is in flight from it):
    /// growth then copies into fresh storage and returns the old block, which the caller frees later.
    mutating func reserve(_ count: Int, minimumCapacity: Int, pinned: Bool) -> UnsafeMutableRawPointer? {
        if capacity - writerIndex >= count { return nil }
        let needed = readableBytes + count
        if !pinned, let storage, needed <= capacity {
            // Enough room overall: slide the unread bytes to the front.
            if readableBytes > 0 { memmove(storage, storage + readerIndex, readableBytes) }
            writerIndex = readableBytes
            readerIndex = 0
            return nil
        }
        var newCapacity = Swift.max(capacity, minimumCapacity)
        while newCapacity < needed { newCapacity *= 2 }
        if !pinned {
            if readerIndex > 0, let storage, readableBytes > 0 {
                memmove(storage, storage + readerIndex, readableBytes)
            }
            self.storage = realloc(storage, newCapacity)!
            writerIndex = readableBytes
            readerIndex = 0
            capacity = newCapacity
            return nil
        }
        let fresh = malloc(newCapacity)!
        if let storage, readableBytes > 0 { memcpy(fresh, storage + readerIndex, readableBytes) }
        let old = storage
        storage = fresh
        writerIndex = readableBytes
        readerIndex = 0
        capacity = newCapacity
        return old
    }

    /// Makes room for `count` more bytes, respecting an outstanding loan (see ``lend(_:)``).
    mutating func reserve(_ count: Int, minimumCapacity: Int) {
        guard let old = reserve(count, minimumCapacity: minimumCapacity, pinned: lent > 0) else { return }
        // The in-flight send reads from the block that was current when it was queued. Keep that one; blocks that
        // became current later were never handed to the kernel and can go right away.
        if retired == nil { retired = old } else { free(old) }
    }

    /// Hands the first `count` unread bytes (starting at ``readPointer``) to the kernel: the bytes stay where they
    /// are until ``settleLoan(consumed:)``.
    mutating func lend(_ count: Int) {
        precondition(lent == 0 && count > 0 && count <= readableBytes, "IOBuffer: bad loan")
        lent = count
    }

    /// The kernel is done with the lent bytes: `consumed` of them were sent and are dropped (the rest stays unread).
    /// Frees the block the loan was made from if growth replaced it meanwhile.
    mutating func settleLoan(consumed: Int) {
        precondition(lent > 0, "IOBuffer: no loan to settle")
        let sent = Swift.min(Swift.max(consumed, 0), lent)
        lent = 0
        free(retired)
        retired = nil
        consume(sent)
    }

    /// Writable space after the unread bytes (call ``reserve(_:minimumCapacity:pinned:)`` first).
    var writable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage! + writerIndex, count: capacity - writerIndex)
    }

    mutating func commit(_ count: Int) {
        precondition(count >= 0 && writerIndex + count <= capacity, "IOBuffer: commit out of range")
        writerIndex += count
    }

    mutating func append(_ bytes: UnsafeRawPointer, _ count: Int, minimumCapacity: Int) {
        let retired = reserve(count, minimumCapacity: minimumCapacity, pinned: false)
        assert(retired == nil)
        memcpy(storage! + writerIndex, bytes, count)
        writerIndex += count
    }

    mutating func consume(_ count: Int) {
        precondition(count >= 0 && count <= readableBytes - lent, "IOBuffer: consume out of range")
        readerIndex += count
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Frees the storage if the buffer is empty and larger than `keep` bytes.
    mutating func shrinkIfEmpty(keep: Int) {
        if isEmpty, capacity > keep { deallocate() }
    }

    /// Frees all storage. Only once no loan is out (the kernel no longer reads it).
    mutating func deallocate() {
        free(retired)
        retired = nil
        lent = 0
        free(storage)
        storage = nil
        capacity = 0
        readerIndex = 0
        writerIndex = 0
    }
}
