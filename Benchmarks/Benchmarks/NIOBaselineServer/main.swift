// A baseline Sv2 server on SwiftNIO, used only to compare against swift-stratum's reactor (Benchmarks/compare.sh).
//
// Same workload as `sv2 loadtest serve`: plain or Noise (our Sv2Noise types for the crypto, so both servers pay
// the same crypto cost), SetupConnection, OpenStandardMiningChannel, SubmitSharesStandard with real validation.
// I/O, buffering and framing are NIO's (ByteToMessageDecoder, ByteBuffer, one event loop by default).
//
//   NIOBaselineServer [--listen 127.0.0.1:34254] [--noise] [--threads 1] [--seconds N]
import Foundation
import NIOCore
import NIOPosix
import Sv2Noise

/// Writes one line to stdout unbuffered (compare.sh waits for it).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

var listen = "127.0.0.1:34254"
var useNoise = false
var threads = 1
var seconds = 0.0
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--listen": listen = arguments.next() ?? listen
    case "--noise": useNoise = true
    case "--threads": threads = Int(arguments.next() ?? "1") ?? 1
    case "--seconds": seconds = Double(arguments.next() ?? "0") ?? 0
    default:
        FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
        exit(64)
    }
}
guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
    FileHandle.standardError.write(Data("--listen expects host:port\n".utf8))
    exit(64)
}
let host = String(listen[..<colon])

var limit = rlimit()
getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
limit.rlim_cur = limit.rlim_max
setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

let authority = useNoise ? try AuthorityKeyPair.generate() : nil
let identity = authority.map { NoiseResponder.Identity.freshStaticKeyPerConnection(authority: $0, certificateValidity: 86_400) }
let counters = BaselineCounters()
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let noise = try identity.map { try NoiseState(identity: $0) }
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(Sv2FrameDecoder(noise: noise)))
            try channel.pipeline.syncOperations.addHandler(BaselinePoolHandler(counters: counters, noise: noise))
        }
    }
let server = try bootstrap.bind(host: host, port: port).wait()
emit("listening \(server.localAddress.map { "\($0)" } ?? listen) pid \(getpid()) backend nio"
     + (authority.map { " authority-public-key \($0.publicKey.base58Check)" } ?? ""))

let done = DispatchSemaphore(value: 0)
signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .global()) }
for source in sources {
    source.setEventHandler { done.signal() }
    source.resume()
}
if seconds > 0 {
    _ = done.wait(timeout: .now() + seconds)
} else {
    done.wait()
}
emit("""
    {"sharesAccepted":\(counters.sharesAccepted.load(ordering: .relaxed)),\
    "sharesRejected":\(counters.sharesRejected.load(ordering: .relaxed)),\
    "channelsOpened":\(counters.nextChannelID.load(ordering: .relaxed))}
    """)
try? server.close().wait()
try? group.syncShutdownGracefully()
