import FuzzDriver
import Glibc
import FuzzSupport
import Sv2Noise

/// The Noise NX handshake fed arbitrary bytes (input byte 0 picks the mode, the rest is the peer's message):
/// 0 responder reading act 1 (then the same act 1 replayed: must be refused) and, if it succeeded, garbage transport;
/// 1 initiator reading act 2, verifying the certificate; 2 the same without an authority key;
/// 3 an honest act 2 XOR-ed with the input: must fail unless the mask is all zero.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHandshake(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let message = UnsafeRawBufferPointer(rebasing: bytes[1...])
    switch bytes[0] % 4 {
    case 0: respond(to: message)
    case 1: initiate(reading: message, authority: fuzzAuthority.publicKey)
    case 2: initiate(reading: message, authority: nil)
    default: tamper(mask: message)
    }
    return 0
}

/// The error `body` throws, or `nil`.
private func noiseError(_ body: () throws(Sv2NoiseError) -> Void) -> Sv2NoiseError? {
    do { try body() } catch { return error }
    return nil
}

private func respond(to message: UnsafeRawBufferPointer) {
    var responder = try! NoiseResponder(identity: fuzzIdentity)
    var out = [UInt8](repeating: 0, count: NoiseResponder.actTwoSize)
    let actOne = UnsafeRawBufferPointer(rebasing: message.prefix(NoiseResponder.actOneSize))
    var session: NoiseSession?
    let error = out.withUnsafeMutableBytes { out in
        noiseError { () throws(Sv2NoiseError) in session = try responder.respond(toActOne: actOne, into: out) }
    }
    guard var session = session.take() else {
        check(error != nil && actOne.count != NoiseResponder.actOneSize, "a 64-byte act 1 was refused: \(String(describing: error))")
        return
    }
    // A replayed act 1 on the same responder is refused.
    let replay = out.withUnsafeMutableBytes { out in
        noiseError { () throws(Sv2NoiseError) in _ = try responder.respond(toActOne: actOne, into: out) }
    }
    check(replay == .outOfOrder, "replayed act 1 accepted")
    // Whatever follows is not a valid encrypted header (the fuzzer cannot forge a tag).
    var transport = Array(message.dropFirst(NoiseResponder.actOneSize))
    if transport.count >= NoiseSession.encryptedHeaderSize {
        let opened = transport.withUnsafeMutableBytes { raw in
            noiseError { () throws(Sv2NoiseError) in try session.decryptHeader(raw) }
        }
        check(opened == .badMAC, "forged header accepted")
    }
}

private func initiate(reading message: UnsafeRawBufferPointer, authority: AuthorityPublicKey?) {
    var initiator = try! NoiseInitiator(authorityKey: authority)
    var actOne = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
    actOne.withUnsafeMutableBytes { try! initiator.writeActOne(into: $0) }
    let first = noiseError { () throws(Sv2NoiseError) in _ = try initiator.readActTwo(message) }
    check(first != nil, "forged act 2 accepted")
    // A full-size act 2 ends the handshake whatever its content; a wrong-size one is refused before any state changes.
    let again = noiseError { () throws(Sv2NoiseError) in _ = try initiator.readActTwo(message) }
    if message.count == NoiseInitiator.actTwoSize {
        check(again == .outOfOrder, "second act 2 not refused: \(String(describing: again))")
    } else {
        check(again == .wrongMessageSize(expected: NoiseInitiator.actTwoSize, got: message.count), "wrong-size act 2")
    }
}

private func tamper(mask: UnsafeRawBufferPointer) {
    var initiator = try! NoiseInitiator(authorityKey: fuzzAuthority.publicKey)
    var responder = try! NoiseResponder(identity: fuzzIdentity)
    var actOne = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
    var actTwo = [UInt8](repeating: 0, count: NoiseResponder.actTwoSize)
    actOne.withUnsafeMutableBytes { try! initiator.writeActOne(into: $0) }
    actTwo.withUnsafeMutableBytes { out in actOne.withUnsafeBytes { _ = try! responder.respond(toActOne: $0, into: out) } }
    var flipped = false
    for (i, byte) in mask.prefix(actTwo.count).enumerated() where byte != 0 {
        actTwo[i] ^= byte
        flipped = true
    }
    let error = actTwo.withUnsafeBytes { raw in noiseError { () throws(Sv2NoiseError) in _ = try initiator.readActTwo(raw) } }
    check((error != nil) == flipped, flipped ? "tampered act 2 accepted" : "honest act 2 refused: \(String(describing: error))")
}

@main
enum FuzzHandshakeMain {
    static func main() {
        exit(sv2_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, { fuzzHandshake($0, $1) }))
    }
}
