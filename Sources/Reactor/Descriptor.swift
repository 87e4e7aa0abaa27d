import CUring

/// An open file descriptor with exactly one owner.
///
/// The reactor closed descriptor numbers that had already been reused twice (f2a3893, 801280d): a number kept in a
/// plain `Int32` outlives the socket it named. A `Descriptor` cannot be copied, and ``close()`` consumes it, so after
/// the close no code holds anything that still names the number. Whoever must keep a descriptor open for the kernel
/// (io_uring's unsubmitted requests name sockets by number) takes ownership by `consuming` it and closes it when safe.
/// Dropping a descriptor without calling ``close()`` closes it too (never leaks).
struct Descriptor: ~Copyable {
    /// The number, valid only while this value exists.
    let rawValue: Int32

    /// Takes ownership of `rawValue` (an open descriptor nobody else closes).
    init(adopting rawValue: Int32) {
        precondition(rawValue >= 0, "Descriptor: negative descriptor \(rawValue)")
        self.rawValue = rawValue
    }

    /// Closes the descriptor.
    consuming func close() {
        _ = cshims_close(rawValue)
        discard self
    }

    deinit { _ = cshims_close(rawValue) }
}

/// Descriptors waiting to be closed (io_uring: until every prepared request naming them was submitted).
/// Noncopyable like its elements; the storage grows by doubling and is freed with the list (closing what is left).
struct DescriptorList: ~Copyable {
    private var storage: UnsafeMutablePointer<Descriptor>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 16) {
        self.capacity = Swift.max(capacity, 1)
        storage = .allocate(capacity: self.capacity)
    }

    var isEmpty: Bool { count == 0 }

    mutating func append(_ descriptor: consuming Descriptor) {
        if count == capacity {
            let grown = UnsafeMutablePointer<Descriptor>.allocate(capacity: capacity * 2)
            grown.moveInitialize(from: storage, count: count)
            storage.deallocate()
            storage = grown
            capacity *= 2
        }
        (storage + count).initialize(to: descriptor)
        count += 1
    }

    /// Closes every descriptor in the list and empties it.
    mutating func closeAll() {
        for index in 0..<count { (storage + index).move().close() }
        count = 0
    }

    deinit {
        for index in 0..<count { (storage + index).move().close() }
        storage.deallocate()
    }
}
