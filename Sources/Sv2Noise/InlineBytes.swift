/// 32 bytes held inline (a key, a hash, an x coordinate), so handshake state never touches the heap the way a
/// `[UInt8]` does.
struct Bytes32 {
    var storage = InlineArray<32, UInt8>(repeating: 0)

    init() {}

    /// Copies exactly 32 bytes; an empty array gives 32 zero bytes (unused injected secrets in tests).
    init(_ bytes: [UInt8]) {
        precondition(bytes.isEmpty || bytes.count == 32, "expected 32 bytes")
        if !bytes.isEmpty { withUnsafeMutableBytes { $0.copyBytes(from: bytes) } }
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeBytes(of: storage) { (raw) throws(E) -> R in try body(raw) }
    }

    mutating func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeMutableBytes(of: &storage) { (raw) throws(E) -> R in try body(raw) }
    }

    /// A copy as an array (tests, public `[UInt8]` APIs).
    var array: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// 64 bytes held inline (an ElligatorSwift encoding, a signature).
struct Bytes64 {
    var storage = InlineArray<64, UInt8>(repeating: 0)

    init() {}

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeBytes(of: storage) { (raw) throws(E) -> R in try body(raw) }
    }

    mutating func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeMutableBytes(of: &storage) { (raw) throws(E) -> R in try body(raw) }
    }
}

extension UnsafeRawBufferPointer {
    /// The start as `UInt8`s, for C functions that take `const uint8_t *`.
    @inline(__always) var bytes: UnsafePointer<UInt8> { baseAddress!.assumingMemoryBound(to: UInt8.self) }
}

extension UnsafeMutableRawBufferPointer {
    /// The start as `UInt8`s, for C functions that take `uint8_t *`.
    @inline(__always) var bytes: UnsafeMutablePointer<UInt8> { baseAddress!.assumingMemoryBound(to: UInt8.self) }
}
