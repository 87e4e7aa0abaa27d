/// The lines a Sv1 server writes (answers and pushes) and a device writes (requests), each ending in `\n`.
public enum Sv1Line {
    /// `{"id":…,"result":<result>,"error":null}`; `result` is JSON text.
    public static func result(id: Sv1ID, _ result: String) -> String {
        "{\"id\":\(id),\"result\":\(result),\"error\":null}\n"
    }

    /// `{"id":…,"result":null,"error":[code,"message",null]}`, the shape common firmware expects.
    public static func error(id: Sv1ID, code: Sv1ErrorCode, message: String) -> String {
        "{\"id\":\(id),\"result\":null,\"error\":[\(code.rawValue),\(Sv1JSON.quote(message)),null]}\n"
    }

    /// The answer to `mining.subscribe`: subscriptions, extranonce1 (hex) and extranonce2_size.
    public static func subscribeResult(id: Sv1ID, subscriptionID: String, extranonce1: [UInt8], extranonce2Size: Int)
        -> String
    {
        let sub = Sv1JSON.quote(subscriptionID)
        return result(
            id: id,
            "[[[\"mining.set_difficulty\",\(sub)],[\"mining.notify\",\(sub)]],\"\(Sv1Hex.encode(extranonce1))\",\(extranonce2Size)]")
    }

    /// The answer to `mining.configure`: only the extensions that were requested, each with its outcome.
    public static func configureResult(id: Sv1ID, versionRollingMask: UInt32?, minimumDifficulty: Bool?) -> String {
        var fields: [String] = []
        if let mask = versionRollingMask {
            fields.append("\"version-rolling\":\(mask != 0 ? "true" : "false")")
            fields.append("\"version-rolling.mask\":\"\(Sv1Hex.encodeUInt32(mask))\"")
        }
        if let minimumDifficulty { fields.append("\"minimum-difficulty\":\(minimumDifficulty ? "true" : "false")") }
        return result(id: id, "{" + fields.joined(separator: ",") + "}")
    }

    /// `mining.set_difficulty` push.
    public static func setDifficulty(_ difficulty: Double) -> String {
        "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[\(Sv1JSON.number(difficulty))]}\n"
    }

    /// `mining.notify` push.
    public static func notify(_ job: Sv1Notify) -> String {
        "{\"id\":null,\"method\":\"mining.notify\",\"params\":\(job.paramsJSON)}\n"
    }

    /// `mining.set_extranonce` push (for devices that sent `mining.extranonce.subscribe`).
    public static func setExtranonce(_ extranonce1: [UInt8], extranonce2Size: Int) -> String {
        "{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"\(Sv1Hex.encode(extranonce1))\",\(extranonce2Size)]}\n"
    }

    /// `client.reconnect` push: with no host the device reconnects to the same server (after `waitSeconds`).
    public static func reconnect(host: String? = nil, port: UInt16? = nil, waitSeconds: Int = 0) -> String {
        guard let host, let port else { return "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}\n" }
        return "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[\(Sv1JSON.quote(host)),\(port),\(waitSeconds)]}\n"
    }

    /// A device request: `{"id":…,"method":…,"params":<params>}`; `params` is JSON text.
    public static func request(id: Sv1ID, method: String, params: String) -> String {
        "{\"id\":\(id),\"method\":\(Sv1JSON.quote(method)),\"params\":\(params)}\n"
    }

    /// A device's `mining.configure` asking for version rolling within `mask` (at least 2 bits of it).
    public static func configureVersionRolling(id: Sv1ID, mask: UInt32) -> String {
        request(
            id: id, method: "mining.configure",
            params: "[[\"version-rolling\"],{\"version-rolling.mask\":\"\(Sv1Hex.encodeUInt32(mask))\","
                + "\"version-rolling.min-bit-count\":2}]")
    }

    /// A device's `mining.subscribe`, naming its software `userAgent`.
    public static func subscribe(id: Sv1ID, userAgent: String) -> String {
        request(id: id, method: "mining.subscribe", params: "[\(Sv1JSON.quote(userAgent))]")
    }

    /// A device's `mining.authorize` as `user` with `password`.
    public static func authorize(id: Sv1ID, user: String, password: String) -> String {
        request(id: id, method: "mining.authorize", params: "[\(Sv1JSON.quote(user)),\(Sv1JSON.quote(password))]")
    }

    /// A device's `mining.submit`.
    public static func submit(id: Sv1ID, _ submit: Sv1Submit) -> String {
        var params = "[\(Sv1JSON.quote(submit.worker)),\(Sv1JSON.quote(submit.jobID)),\"\(Sv1Hex.encode(submit.extranonce2))\",\""
            + Sv1Hex.encodeUInt32(submit.ntime) + "\",\"" + Sv1Hex.encodeUInt32(submit.nonce) + "\""
        if let bits = submit.versionBits { params += ",\"" + Sv1Hex.encodeUInt32(bits) + "\"" }
        return request(id: id, method: "mining.submit", params: params + "]")
    }
}
