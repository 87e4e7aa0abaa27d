import Foundation

/// What a Sv1 server sends a device, parsed (the device side: test devices and tools).
public enum Sv1ServerMessage: Sendable, Hashable {
    /// An answer: `result` as compact JSON text (`nil` when null) or the error's code and message.
    case response(id: Sv1ID, result: Sv1Result)
    /// `mining.set_difficulty`.
    case setDifficulty(Double)
    /// `mining.notify`.
    case notify(Sv1Notify)
    /// `mining.set_extranonce`.
    case setExtranonce(extranonce1: [UInt8], extranonce2Size: Int)
    /// `client.reconnect` (empty host: the same server).
    case reconnect(host: String?, port: Int?)
    /// Any other push.
    case other(method: String)

    /// The outcome carried by a response.
    public enum Sv1Result: Sendable, Hashable {
        /// `result: true`.
        case accepted
        /// `result: false` or null without an error.
        case refused
        /// `error: [code, message, …]`.
        case error(code: Int, message: String)
        /// `mining.subscribe`'s answer.
        case subscribed(extranonce1: [UInt8], extranonce2Size: Int)
        /// `mining.configure`'s answer: the granted version-rolling mask (0 when refused or absent).
        case configured(versionRollingMask: UInt32)
    }

    /// Parses one line from a server.
    public init(line: UnsafeRawBufferPointer) throws(Sv1ProtocolError) {
        let object: [String: Any]
        do { object = try Sv1Request.object(line) } catch { throw error.error }
        if let method = object["method"] as? String {
            let params = object["params"] as? [Any] ?? []
            switch method {
            case "mining.set_difficulty":
                guard let value = Sv1Request.number(params.first), value > 0 else {
                    throw .invalidParams(method: method, reason: "difficulty")
                }
                self = .setDifficulty(value)
            case "mining.notify":
                self = .notify(try Sv1Notify(params: params))
            case "mining.set_extranonce":
                guard let text = params.first as? String, let bytes = Sv1Hex.decode(text),
                      let size = Sv1Request.integer(params.count > 1 ? params[1] : nil, in: 0...32)
                else { throw .invalidParams(method: method, reason: "extranonce") }
                self = .setExtranonce(extranonce1: bytes, extranonce2Size: size)
            case "client.reconnect":
                self = .reconnect(host: params.first as? String, port: Sv1Request.integer(params.count > 1 ? params[1] : nil, in: 0...65_535))
            default:
                self = .other(method: method)
            }
            return
        }
        let id = Sv1Request.id(object["id"])
        if let error = object["error"] as? [Any], !error.isEmpty {
            let code = Sv1Request.integer(error[0], in: Int(Int32.min)...Int(Int32.max)) ?? 20
            self = .response(id: id, result: .error(code: code, message: error.count > 1 ? (error[1] as? String ?? "") : ""))
            return
        }
        let result = object["result"]
        if let number = result as? NSNumber, Sv1Request.isBool(number) {
            self = .response(id: id, result: number.boolValue ? .accepted : .refused)
        } else if let array = result as? [Any], array.count >= 3, let en1 = (array[1] as? String).flatMap(Sv1Hex.decode),
                  let size = Sv1Request.integer(array[2], in: 0...32) {
            self = .response(id: id, result: .subscribed(extranonce1: en1, extranonce2Size: size))
        } else if let dictionary = result as? [String: Any] {
            let mask = (dictionary["version-rolling.mask"] as? String).flatMap { UInt32($0, radix: 16) } ?? 0
            self = .response(id: id, result: .configured(versionRollingMask: mask))
        } else {
            self = .response(id: id, result: .refused)
        }
    }
}
