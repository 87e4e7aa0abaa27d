/// An extension TLV appended after a message's fields (spec §3.4.3): `extension_type` U16, `field_type` U8,
/// `length` U16, value. Both U16s are little-endian, as SRI writes them (the spec's example shows big-endian; SRI is
/// what interoperates).
public struct Sv2TLV: Sendable, Hashable {
    /// The extension that defines the field (e.g. 0x0002, worker-specific hashrate tracking).
    public var extensionType: UInt16
    /// The field within that extension (e.g. 0x01, `user_identity`).
    public var fieldType: UInt8
    /// The value bytes (at most 65535).
    public var value: [UInt8]

    /// Creates a TLV.
    public init(extensionType: UInt16, fieldType: UInt8, value: [UInt8]) {
        self.extensionType = extensionType
        self.fieldType = fieldType
        self.value = value
    }

    /// Worker-specific hashrate tracking (extension 0x0002): the worker's `user_identity`, at most 32 bytes.
    public static func workerIdentity(_ identity: String) -> Sv2TLV {
        Sv2TLV(extensionType: 0x0002, fieldType: 0x01, value: Array(identity.utf8.prefix(32)))
    }

    /// Encoded size (5-byte header + value).
    public var encodedSize: Int { 5 + value.count }

    /// Encodes the TLV.
    public func encode(into writer: inout Sv2Writer) throws(Sv2EncodeError) {
        try writer.writeU16(extensionType, "tlv_type")
        try writer.writeU8(fieldType, "tlv_field")
        try writer.writeBytes(value, prefixWidth: 2, limit: 65535, "tlv_value")
    }

    /// Encodes a list of TLVs into bytes (for `SubmitSharesExtended.extensionData`).
    public static func encode(_ tlvs: [Sv2TLV]) throws(Sv2EncodeError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: tlvs.reduce(0) { $0 + $1.encodedSize })
        let result: Result<Void, Sv2EncodeError> = out.withUnsafeMutableBytes { raw in
            Result { () throws(Sv2EncodeError) in
                var writer = Sv2Writer(raw)
                for tlv in tlvs { try tlv.encode(into: &writer) }
            }
        }
        try result.get()
        return out
    }

    /// Parses every TLV in `bytes` (a view's `trailingBytes`); throws on a truncated TLV.
    public static func parse(_ bytes: Sv2Bytes) throws(Sv2DecodeError) -> [Sv2TLV] {
        var reader = Sv2Reader(bytes, message: nil)
        var out: [Sv2TLV] = []
        while reader.remainingCount > 0 {
            let type = try reader.readU16("tlv_type")
            let field = try reader.readU8("tlv_field")
            let value = try reader.readBytes(prefixWidth: 2, limit: 65535, "tlv_value")
            out.append(Sv2TLV(extensionType: type, fieldType: field, value: Array(value)))
        }
        return out
    }
}
