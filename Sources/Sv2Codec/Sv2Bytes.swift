/// A read-only, bounds-checked view of bytes inside a received frame: what message views hand out for byte strings
/// (`B0_32`, `B0_255`, `B0_64K`, `B0_16M`, `STR0_255`), extension data and the payload itself.
///
/// It is a pointer and a length, nothing more (no allocation, no reference counting, no existential), so decoding a
/// view stays zero-copy. Unlike `UnsafeRawBufferPointer` its whole public API is safe:
///
/// - every read is bounds-checked (`subscript` traps on an index outside `0..<count`, like `Array`), so no caller
///   can read outside the field it was given, whatever a peer put in a length prefix (the decoder already checked
///   that every field lies inside the payload);
/// - it cannot be written through, and it does not expose its address: the only way to the raw memory is the
///   explicit `withUnsafeBytes(_:)`, whose pointer is valid only inside the closure — the same model as SwiftNIO's
///   `ByteBuffer` (safe API, explicit `withUnsafe…` doors);
/// - it is not `Sendable`, so it cannot be handed to another thread or task.
///
/// **Lifetime.** The bytes belong to the buffer the frame was read into. A message view, and every `Sv2Bytes` taken
/// from it, is valid only during the handler call (or the `decode` scope) that received it: the event loop reuses
/// the buffer for the next read. This is the same rule the handler contexts follow, which check it at run time (a
/// context kept past its call traps in debug builds and refuses to send in release builds). Swift 6.3 cannot yet
/// check it at compile time for a stored property without experimental features (`RawSpan` is `~Escapable`, and a
/// view holding one would need the experimental `Lifetimes` feature), so `Sv2Bytes` is the stable spelling of the
/// same contract. *Escaping* means keeping the value (or a pointer from `withUnsafeBytes`) anywhere that outlives
/// that call — a property, a collection, a closure run later. To keep the bytes, copy them: `Array(bytes)`,
/// `Data(bytes)`, `String(decoding: bytes, as: UTF8.self)`, or the owned message (`SubmitSharesExtended(view)`).
@frozen public struct Sv2Bytes {
    @usableFromInline let base: UnsafeRawPointer?
    /// Number of bytes.
    public let count: Int

    /// Views `bytes` without copying. The caller vouches that the memory stays valid and unchanged for as long as
    /// the result (and anything decoded from it) is used: this is the unsafe door in, for whoever owns the buffer
    /// (the frame splitter, tests, fuzzers).
    @inlinable public init(unsafeBytes bytes: UnsafeRawBufferPointer) {
        base = bytes.baseAddress
        count = bytes.count
    }

    /// An empty view.
    @inlinable public init() {
        base = nil
        count = 0
    }

    /// Views `count` bytes at `start` (already bounds-checked by the caller).
    @inlinable init(uncheckedStart start: UnsafeRawPointer?, count: Int) {
        base = start
        self.count = count
    }

    /// Calls `body` with the raw bytes; the pointer is valid only inside `body` and must not be stored.
    @inlinable public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// The bytes `range` (relative to this view, bounds-checked) as a view of their own, starting at index 0.
    @inlinable public func extracting(_ range: Range<Int>) -> Sv2Bytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "Sv2Bytes range out of bounds")
        return Sv2Bytes(uncheckedStart: base.map { $0 + range.lowerBound }, count: range.count)
    }

    /// Loads a little-endian `UInt32` at `offset` (bounds-checked; any alignment).
    @inlinable public func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        precondition(offset >= 0 && offset <= count - 4, "Sv2Bytes load out of bounds")
        return UInt32(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

extension Sv2Bytes: RandomAccessCollection {
    /// 0.
    @inlinable public var startIndex: Int { 0 }
    /// `count`.
    @inlinable public var endIndex: Int { count }
    /// Whether there are no bytes.
    @inlinable public var isEmpty: Bool { count == 0 }

    /// The byte at `position`; traps if `position` is outside `0..<count`.
    @inlinable public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < count, "Sv2Bytes index out of range")
        return base.unsafelyUnwrapped.load(fromByteOffset: position, as: UInt8.self)
    }

    /// Contiguous access for the standard library's bulk copies (`Array(bytes)`, `elementsEqual`), so copying out is
    /// one `memcpy`.
    @inlinable public func withContiguousStorageIfAvailable<Result>(
        _ body: (UnsafeBufferPointer<UInt8>) throws -> Result
    ) rethrows -> Result? {
        try UnsafeRawBufferPointer(start: base, count: count).withMemoryRebound(to: UInt8.self, body)
    }
}

extension Sv2Bytes: Equatable {
    /// Whether both views hold the same bytes (content, not address).
    @inlinable public static func == (lhs: Sv2Bytes, rhs: Sv2Bytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.count == 0 || lhs.base == rhs.base { return true }
        return lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } }
    }

    /// Whether the view holds exactly `rhs`.
    @inlinable public static func == (lhs: Sv2Bytes, rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return rhs.withUnsafeBytes { lhs == Sv2Bytes(unsafeBytes: $0) }
    }

    /// Whether the view holds exactly `lhs`.
    @inlinable public static func == (lhs: [UInt8], rhs: Sv2Bytes) -> Bool { rhs == lhs }

    /// Whether the view does not hold exactly `rhs`.
    @inlinable public static func != (lhs: Sv2Bytes, rhs: [UInt8]) -> Bool { !(lhs == rhs) }

    /// Whether the view does not hold exactly `lhs`.
    @inlinable public static func != (lhs: [UInt8], rhs: Sv2Bytes) -> Bool { !(rhs == lhs) }
}

extension Sv2Bytes: CustomStringConvertible {
    /// Lower-case hex of the bytes (for logs and test failures; allocates).
    public var description: String { Sv2Hex.encode(self) }
}

/// The bytes live in a buffer owned by one event loop thread: a view must not cross threads.
@available(*, unavailable)
extension Sv2Bytes: Sendable {}
