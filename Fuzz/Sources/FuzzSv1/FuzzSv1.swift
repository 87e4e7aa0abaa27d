import FuzzDriver
import FuzzSupport
import Glibc
import Sv1

/// The Sv1 line parser fed arbitrary bytes: split into lines (with a cap from byte 0), each parsed as a device
/// request and as a server message.
///
/// Beyond "no crash": the splitter never reports more bytes consumed than it was given, and never a line over
/// its cap; a parsed submit re-encodes (`Sv1Line.submit`) to a line that parses to the same request; a parsed
/// notify's params re-encode to a notify that parses to the same job.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSv1(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let limit = 64 + Int(data[0]) * 16
    let splitter = Sv1LineSplitter(maxLineLength: limit)
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    do throws(Sv1ProtocolError) {
        let consumed = try splitter.split(input) { line in
            check(line.count <= limit, "line of \(line.count) bytes over the cap \(limit)")
            parseAsRequest(line)
            parseAsServerMessage(line)
            return true
        }
        check(consumed <= input.count, "consumed \(consumed) of \(input.count)")
    } catch {
        check(error == .lineTooLong(limit: limit), "unexpected \(error)")
    }
    return 0
}

private func parseAsRequest(_ line: UnsafeRawBufferPointer) {
    guard let request = try? Sv1Request(line: line), case .submit(let submit) = request.method else { return }
    let again = try? Sv1Request(line: String(Sv1Line.submit(id: request.id, submit).dropLast()))
    check(again == request, "submit does not round-trip: \(request) → \(String(describing: again))")
}

private func parseAsServerMessage(_ line: UnsafeRawBufferPointer) {
    guard case .notify(let job)? = try? Sv1ServerMessage(line: line) else { return }
    var text = Sv1Line.notify(job)
    let again = text.withUTF8 { try? Sv1ServerMessage(line: UnsafeRawBufferPointer($0)) }
    check(again == .notify(job), "notify does not round-trip: \(job)")
}

@main
enum FuzzSv1Main {
    static func main() {
        exit(sv2_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, { fuzzSv1($0, $1) }))
    }
}
