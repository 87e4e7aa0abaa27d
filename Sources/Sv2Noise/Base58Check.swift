/// Bitcoin base58check: payload ‖ first 4 bytes of SHA256d(payload), in base58.
enum Base58Check {
    private static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    static func encode(_ payload: [UInt8]) -> String {
        let bytes = payload + checksum(payload)
        let zeros = bytes.prefix(while: { $0 == 0 }).count
        var digits = [UInt8]()  // base58 digits, least significant first
        for byte in bytes.dropFirst(zeros) {
            var carry = Int(byte)
            for i in digits.indices {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let text = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: text, as: UTF8.self)
    }

    /// The payload, or `nil` if `text` is not base58 or its checksum is wrong.
    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        let zeros = chars.prefix(while: { $0 == alphabet[0] }).count
        var bytes = [UInt8]()  // least significant first
        for char in chars.dropFirst(zeros) {
            guard let digit = alphabet.firstIndex(of: char) else { return nil }
            var carry = digit
            for i in bytes.indices {
                carry += Int(bytes[i]) * 58
                bytes[i] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        let full = [UInt8](repeating: 0, count: zeros) + bytes.reversed()
        guard full.count >= 4 else { return nil }
        let payload = Array(full.dropLast(4))
        guard checksum(payload) == Array(full.suffix(4)) else { return nil }
        return payload
    }

    private static func checksum(_ payload: [UInt8]) -> [UInt8] {
        Array(Secp256k1.sha256(Secp256k1.sha256(payload)).prefix(4))
    }
}
