import Foundation
import Reactor
import Sv1
import Sv2Translator
import Testing

/// A raw Sv1 peer: writes lines, collects what the translator answers, line by line.
final class RawSv1Peer: ConnectionHandler {
    var connection: Connection?
    var lines: [String] = []
    var closed = false
    private let splitter = Sv1LineSplitter(maxLineLength: 1 << 20)

    func connect(_ loop: EventLoop, to address: SocketAddress) {
        loop.connect(to: address, timeout: .seconds(10), handler: self) { [self] result in
            if case .success(let connection) = result { self.connection = connection } else { closed = true }
        }
    }

    func send(_ text: String) {
        var text = text
        text.withUTF8 { _ = connection?.write(UnsafeRawBufferPointer($0)) }
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        (try? splitter.split(UnsafeRawBufferPointer(bytes)) { line in
            lines.append(String(decoding: line, as: UTF8.self))
            return true
        }) ?? bytes.count
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) { closed = true }

    /// The answer with `id` (JSON text of the id), if it arrived.
    func answer(_ id: String) -> String? { lines.first { $0.hasPrefix("{\"id\":\(id),") } }
}

/// What starts a `mining.notify` push (the subscribe answer also names the method).
let notifyMarker = "\"method\":\"mining.notify\""

/// The first `mining.notify` among `lines`, parsed.
func firstNotify(_ lines: [String]) throws -> Sv1Notify {
    guard let line = lines.first(where: { $0.contains(notifyMarker) }) else { throw TestFailure("no notify") }
    var text = line
    let message = try text.withUTF8 { try Sv1ServerMessage(line: UnsafeRawBufferPointer($0)) }
    guard case .notify(let job) = message else { throw TestFailure("not a notify: \(line)") }
    return job
}

@Suite("Translator: malformed and hostile Sv1 input", .serialized)
struct TranslatorMalformedInputTests {
    @Test func everyBadRequestGetsAnErrorAndTheConnectionSurvives() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator()
        let peer = RawSv1Peer()
        try runner.sync { peer.connect(runner.loop, to: translator.localAddress!) }
        #expect(try runner.wait { peer.connection != nil })

        // Before subscribing: a submit is refused (25); garbage and unknown methods get errors.
        try runner.sync {
            peer.send(#"{"id":1,"method":"mining.submit","params":["w","1","00000000","6b0d8a80","00000000"]}"# + "\n")
            peer.send("this is not json\n")
            peer.send(#"{"id":2,"method":"mining.teleport","params":[]}"# + "\n")
            peer.send(#"{"id":3,"method":"mining.submit","params":["w"]}"# + "\n")
            peer.send("\r\n\n")
        }
        #expect(try runner.wait { peer.lines.count >= 4 })
        runner.inspect {
            #expect(peer.answer("1")?.contains("\"error\":[25,") == true)
            #expect(peer.answer("null")?.contains("\"error\":[20,\"malformed JSON\",null]") == true)
            #expect(peer.answer("2")?.contains("\"error\":[20,\"unknown method mining.teleport\",null]") == true)
            #expect(peer.answer("3")?.contains("\"error\":[20,") == true)
            #expect(!peer.closed)
        }

        // Subscribe and authorize, then bad submits of every kind.
        try runner.sync {
            peer.send(#"{"id":10,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"# + "\n")
            peer.send(#"{"id":11,"method":"mining.subscribe","params":["raw/1"]}"# + "\n")
            peer.send(#"{"id":12,"method":"mining.authorize","params":["w","x"]}"# + "\n")
        }
        #expect(try runner.wait { peer.lines.contains { $0.contains(notifyMarker) } })
        runner.inspect {
            // BIP320 bits only, whatever the device asked for.
            #expect(peer.answer("10")?.contains("\"version-rolling.mask\":\"1fffffe0\"") == true)
        }
        let job = try firstNotify(try runner.sync { peer.lines })
        let jobID = job.jobID
        let ntime = Sv1Hex.encodeUInt32(job.ntime)
        try runner.sync {
            peer.send(#"{"id":20,"method":"mining.submit","params":["someone-else","\#(jobID)","00000000","\#(ntime)","00000000"]}"# + "\n")
            peer.send(#"{"id":21,"method":"mining.submit","params":["w","ffff","00000000","\#(ntime)","00000000"]}"# + "\n")
            peer.send(#"{"id":22,"method":"mining.submit","params":["w","\#(jobID)","0000000000","\#(ntime)","00000000"]}"# + "\n")
            peer.send(#"{"id":23,"method":"mining.submit","params":["w","\#(jobID)","00000000","\#(ntime)","00000000","e0000000"]}"# + "\n")
            peer.send(#"{"id":24,"method":"mining.submit","params":["w","not-hex","00000000","\#(ntime)","00000000"]}"# + "\n")
            peer.send(#"{"id":25,"method":"mining.submit","params":["w","\#(jobID)","00000000","00000001","00000000"]}"# + "\n")
        }
        #expect(try runner.wait { (20...25).allSatisfy { peer.answer(String($0)) != nil } })
        runner.inspect {
            #expect(peer.answer("20")?.contains("\"error\":[24,") == true)  // worker not authorized here
            #expect(peer.answer("21")?.contains("\"error\":[21,") == true)  // unknown job
            #expect(peer.answer("22")?.contains("\"error\":[20,") == true)  // another size of extranonce2
            #expect(peer.answer("23")?.contains("\"error\":[20,") == true)  // version bits outside the mask
            #expect(peer.answer("24")?.contains("\"error\":[21,") == true)  // job id we never sent
            #expect(peer.answer("25")?.contains("\"error\":[20,") == true)  // ntime before the job's
            #expect(!peer.closed)
            #expect(translator.statistics.malformedLines >= 1)
        }
    }

    /// An application that releases its translator while a device is still connected: the device's next line closes
    /// its connection (the session holds the translator weakly), and nothing crashes on a dangling reference.
    @Test func aReleasedTranslatorClosesItsDevicesOnTheirNextLine() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let service = try bed.startPool()
        weak var released: Sv2Translator?
        let peer = RawSv1Peer()
        bed.keep(peer)
        do {
            let translator = try startTestTranslator(runner, pool: service, authority: nil)
            released = translator
            let address = try runner.sync { translator.localAddress! }
            try runner.sync { peer.connect(runner.loop, to: address) }
            #expect(try runner.wait { peer.connection != nil })
            try runner.sync { peer.send(#"{"id":1,"method":"mining.subscribe","params":[]}"# + "\n") }
            #expect(try runner.wait { peer.answer("1") != nil })
        }
        // The last strong reference is gone (the loop's callbacks hold it weakly).
        #expect(try runner.wait { released == nil })
        try runner.sync { peer.send(#"{"id":2,"method":"mining.authorize","params":["w","x"]}"# + "\n") }
        #expect(try runner.wait { peer.closed })
        runner.inspect { #expect(peer.answer("2") == nil) }
    }

    /// BIP310 `minimum-difficulty` raises a device's floor; `mining.suggest_difficulty` sets its first difficulty
    /// (never below the translator's minimum).
    @Test func minimumAndSuggestedDifficultyAreHonoured() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator()
        let floor = RawSv1Peer(), suggested = RawSv1Peer(), tooLow = RawSv1Peer()
        bed.keep(floor, suggested, tooLow)
        try runner.sync { for peer in [floor, suggested, tooLow] { peer.connect(runner.loop, to: translator.localAddress!) } }
        #expect(try runner.wait { [floor, suggested, tooLow].allSatisfy { $0.connection != nil } })
        try runner.sync {
            floor.send(#"{"id":1,"method":"mining.configure","params":[["minimum-difficulty"],{"minimum-difficulty.value":0.000001}]}"# + "\n")
            suggested.send(#"{"id":1,"method":"mining.suggest_difficulty","params":[0.0000005]}"# + "\n")
            tooLow.send(#"{"id":1,"method":"mining.suggest_difficulty","params":[1e-12]}"# + "\n")
            for peer in [floor, suggested, tooLow] {
                peer.send(#"{"id":2,"method":"mining.subscribe","params":[]}"# + "\n")
            }
        }
        #expect(try runner.wait { [floor, suggested, tooLow].allSatisfy { $0.lines.contains { $0.contains("set_difficulty") } } })
        func firstDifficulty(_ peer: RawSv1Peer) throws -> Double {
            var line = try #require(peer.lines.first { $0.contains("\"method\":\"mining.set_difficulty\"") })
            guard case .setDifficulty(let value) = try line.withUTF8({ try Sv1ServerMessage(line: UnsafeRawBufferPointer($0)) })
            else { throw TestFailure("not set_difficulty") }
            return value
        }
        let (granted, a, b, c) = try runner.inspect { () throws -> (Bool, Double, Double, Double) in
            (floor.answer("1")?.contains("\"minimum-difficulty\":true") == true, try firstDifficulty(floor),
             try firstDifficulty(suggested), try firstDifficulty(tooLow))
        }
        #expect(granted)
        #expect(abs(a / 0.000001 - 1) < 1e-6)
        #expect(abs(b / 0.0000005 - 1) < 1e-6)
        #expect(abs(c / testDeviceDifficulty - 1) < 1e-6)  // clamped to the translator's minimum
    }

    @Test func duplicateAndLowDifficultySharesAreRefused() throws {
        let bed = try TranslatorTestBed(.epoll)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator()
        let device = try connectDevice(runner, to: translator)
        // Find one valid share by hand and send it twice; then a share with a nonce that misses the target.
        try runner.sync { _ = device.mine(shares: 1) }
        #expect(try runner.wait { device.accepted == 1 })
        let peer = RawSv1Peer()
        try runner.sync { peer.connect(runner.loop, to: translator.localAddress!) }
        #expect(try runner.wait { peer.connection != nil })
        try runner.sync {
            peer.send(#"{"id":1,"method":"mining.subscribe","params":[]}"# + "\n")
            peer.send(#"{"id":2,"method":"mining.authorize","params":["w","x"]}"# + "\n")
        }
        #expect(try runner.wait { peer.lines.contains { $0.contains(notifyMarker) } })
        // Three nonces: at 1/256 odds of meeting the device target, most miss it (difficulty-too-low).
        let job = try firstNotify(try runner.sync { peer.lines })
        let submit = #"{"id":5,"method":"mining.submit","params":["w","\#(job.jobID)","00000001","\#(Sv1Hex.encodeUInt32(job.ntime))","%@"]}"#
        try runner.sync {
            for nonce in 0..<3 as Range<UInt32> {
                peer.send(submit.replacingOccurrences(of: "%@", with: Sv1Hex.encodeUInt32(nonce)).replacingOccurrences(of: "\"id\":5", with: "\"id\":\(50 + nonce)") + "\n")
            }
        }
        #expect(try runner.wait { (50...52).allSatisfy { peer.answer(String($0)) != nil } })
        runner.inspect {
            let answers = (50...52).compactMap { peer.answer(String($0)) }
            // Each either met the target (true) or was refused as low difficulty (23): never anything else.
            #expect(answers.allSatisfy { $0.contains("\"result\":true") || $0.contains("\"error\":[23,") })
            #expect(answers.contains { $0.contains("\"error\":[23,") })
        }
        // Send the first of them again: a valid one is a duplicate (22), an invalid one stays 23.
        try runner.sync { peer.send(submit.replacingOccurrences(of: "%@", with: "00000000").replacingOccurrences(of: "\"id\":5", with: "\"id\":60") + "\n") }
        #expect(try runner.wait { peer.answer("60") != nil })
        try runner.sync {
            let first = peer.answer("50")!
            let again = peer.answer("60")!
            #expect(first.contains("\"result\":true") ? again.contains("\"error\":[22,") : again.contains("\"error\":[23,"))
        }
    }

    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func oversizedLinesAndFloodsOfGarbageCloseOnlyThatConnection(backend: ReactorBackend) throws {
        let bed = try TranslatorTestBed(backend)
        defer { bed.stop() }
        let runner = bed.runner
        let (_, translator) = try bed.startPoolAndTranslator(translator: { $0.maxLineLength = 1024 })
        let good = try connectDevice(runner, to: translator, worker: "good")
        let long = RawSv1Peer()
        let noisy = RawSv1Peer()
        try runner.sync {
            long.connect(runner.loop, to: translator.localAddress!)
            noisy.connect(runner.loop, to: translator.localAddress!)
        }
        #expect(try runner.wait { long.connection != nil && noisy.connection != nil })
        try runner.sync {
            long.send(String(repeating: "{", count: 4096))  // no newline, over the cap
            for _ in 0..<20 { noisy.send("}{\n") }
        }
        #expect(try runner.wait { long.closed && noisy.closed })
        // The good device keeps mining.
        try runner.sync { _ = good.mine(shares: 3) }
        #expect(try runner.wait { good.accepted == 3 })
        runner.inspect {
            #expect(translator.statistics.protocolCloses == 2)
            #expect(translator.deviceCount == 1)
            #expect(noisy.lines.count >= translator.configuration.maxMalformedLines)
        }
    }
}
