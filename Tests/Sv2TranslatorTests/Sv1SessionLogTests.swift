import Foundation
import Sv1
import Sv2Bitcoin
import Testing

/// The real session between SRI's Sv1 CPU miner and SRI's translator (vectors/real-peers/sv1-session.log).
@Suite("Sv1: the real SRI session log")
struct Sv1SessionLogTests {
    let lines: [(fromDevice: Bool, text: String)]

    init() throws {
        let text = try String(contentsOf: try vectorURL("sv1-session.log"), encoding: .utf8)
        lines = text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("> ") { return (true, String(line.dropFirst(2))) }
            if line.hasPrefix("< ") { return (false, String(line.dropFirst(2))) }
            return nil
        }
    }

    @Test func everyDeviceLineParses() throws {
        var methods: [String: Int] = [:]
        for line in lines where line.fromDevice {
            let request = try Sv1Request(line: line.text)
            switch request.method {
            case .configure(let configure):
                #expect(configure.extensions.isEmpty)
                #expect(configure.versionRollingMask == nil)
                methods["configure", default: 0] += 1
            case .subscribe(let agent):
                #expect(agent == "80")
                methods["subscribe", default: 0] += 1
            case .authorize(let user, let password):
                #expect(user == "user" && password == "password")
                methods["authorize", default: 0] += 1
            case .submit(let submit):
                #expect(submit.worker == "user")
                #expect(submit.extranonce2 == [0, 0, 0, 0])
                #expect(submit.versionBits == nil)
                methods["submit", default: 0] += 1
            default:
                Issue.record("unexpected \(request.method)")
            }
            #expect(request.id == .number(1_796_049_475) || request.id == .number(0))
        }
        #expect(methods["configure"] == 1 && methods["subscribe"] == 1 && methods["authorize"] == 1)
        #expect((methods["submit"] ?? 0) >= 9)
        // The first submit's fields, decoded from hex.
        let first = try #require(lines.first { $0.fromDevice && $0.text.contains("mining.submit") })
        guard case .submit(let submit) = try Sv1Request(line: first.text).method else { throw TestFailure("not a submit") }
        #expect(submit.jobID == "1" && submit.ntime == 0x6b0d_8a80 && submit.nonce == 0x0010_cbb6)
    }

    @Test func everyServerLineParsesAndReencodes() throws {
        var notifies = 0
        for line in lines where !line.fromDevice {
            let message = try line.text.withCString { pointer in
                try Sv1ServerMessage(line: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
            }
            switch message {
            case .notify(let job):
                notifies += 1
                // Our encoding of the parsed job carries the same params, byte for byte.
                let params = line.text.components(separatedBy: "\"params\":").last!.dropLast()  // drop the final }
                #expect(job.paramsJSON == String(params))
            case .response(_, .subscribed(let extranonce1, let size)):
                #expect(extranonce1.count == 28 && size == 4)
            case .setDifficulty(let difficulty):
                #expect(abs(difficulty - 0.0002328830926874709) < 1e-15)
            default: break
            }
        }
        #expect(notifies >= 9)
    }

    /// Every share SRI's miner submitted, rebuilt from the notify as we read it (coinb1 ‖ extranonce1 ‖
    /// extranonce2 ‖ coinb2, merkle branch, Sv1 prevhash word order, hex ntime/nonce), meets the session's
    /// difficulty (target ≈ 2^252). A wrong reading of any field gives a random hash: 1/16 chance per share.
    @Test func realSharesMeetTheSessionDifficulty() throws {
        var extranonce1: [UInt8] = []
        var difficulty = 0.0
        var jobs: [String: Sv1Notify] = [:]
        var checked = 0
        for line in lines {
            if line.fromDevice {
                guard case .submit(let submit) = try Sv1Request(line: line.text).method else { continue }
                let job = try #require(jobs[submit.jobID])
                let txid = SHA256d.hash(job.coinbase1 + extranonce1 + submit.extranonce2 + job.coinbase2)
                let root = MerkleRoot.compute(coinbaseTxid: txid, path: job.merkleBranch.compactMap { Hash256(bytes: $0) })
                let header = BlockHeader(
                    version: job.version, prevHash: try #require(Hash256(bytes: job.prevHash)), merkleRoot: root,
                    ntime: submit.ntime, nbits: job.nbits, nonce: submit.nonce)
                let target = try #require(Target(difficulty: difficulty))
                #expect(target.isMet(by: header.hash), "share for job \(submit.jobID)")
                checked += 1
                continue
            }
            let message = try line.text.withCString { pointer in
                try Sv1ServerMessage(line: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
            }
            switch message {
            case .response(_, .subscribed(let en1, _)): extranonce1 = en1
            case .setDifficulty(let value): difficulty = value
            case .notify(let job): jobs[job.jobID] = job
            default: break
            }
        }
        #expect(checked >= 9)
    }
}
