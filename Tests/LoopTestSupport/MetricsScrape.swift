import Foundation
import Glibc

/// A Prometheus scrape over a plain socket (a real HTTP/1.1 client in its simplest form): `GET /metrics`, read to
/// the end, parse the text exposition. Call it from the test thread, never the loop thread.
public struct MetricsScrape: Sendable {
    /// The HTTP status code.
    public let status: Int
    /// The response headers (lowercased names).
    public let headers: [String: String]
    /// The body.
    public let body: String

    /// Fetches `path` from `127.0.0.1:port` (bounded: 10 s for the whole exchange).
    public static func get(port: UInt16, path: String = "/metrics", request: String? = nil) throws -> MetricsScrape {
        let text = request ?? "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sv2-tests\r\nAccept: */*\r\n\r\n"
        return try parse(try exchange(port: port, Array(text.utf8)))
    }

    /// Sends `bytes` to `127.0.0.1:port` and reads until the peer closes (bounded: 10 s per call, 64 MiB).
    public static func exchange(port: UInt16, _ bytes: [UInt8]) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetricsScrapeError.system("socket", errno) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw MetricsScrapeError.system("connect", errno) }
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw MetricsScrapeError.system("send", errno) }
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw MetricsScrapeError.system("recv", errno) }
            if count == 0 { break }
            response += buffer[0..<count]
            guard response.count < 64 << 20 else { throw MetricsScrapeError.malformed("response too large") }
        }
        return response
    }

    static func parse(_ response: [UInt8]) throws -> MetricsScrape {
        let full = String(decoding: response, as: UTF8.self)
        guard let split = full.range(of: "\r\n\r\n") else { throw MetricsScrapeError.malformed(full) }
        let headLines = full[..<split.lowerBound].split(separator: "\r\n")
        guard let statusLine = headLines.first, statusLine.hasPrefix("HTTP/1.1 "),
              let status = Int(statusLine.dropFirst(9).prefix(3))
        else { throw MetricsScrapeError.malformed(full) }
        var headers: [String: String] = [:]
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = String(full[split.upperBound...])
        if let length = headers["content-length"].flatMap(Int.init), length != body.utf8.count {
            throw MetricsScrapeError.malformed("content-length \(length) but \(body.utf8.count) bytes")
        }
        return MetricsScrape(status: status, headers: headers, body: body)
    }

    /// The value of the sample `name` whose labels include every pair of `labels` (`nil`: no such sample); the sum
    /// when several samples match.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        var total: Double?
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let sampleName = series.prefix { $0 != "{" }
            guard sampleName == name else { continue }
            let labelText = series.dropFirst(sampleName.count)
            guard labels.allSatisfy({ labelText.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
            guard let value = Double(line[line.index(after: space)...]) else { continue }
            total = (total ?? 0) + value
        }
        return total
    }
}

/// Why a scrape failed.
public enum MetricsScrapeError: Error {
    case system(String, Int32)
    case malformed(String)
}

/// A bare TCP client to `127.0.0.1:port` that sends nothing (a slow or silent peer).
public final class TCPTestClient {
    private let fd: Int32

    /// Connects (blocking, bounded by the kernel's connect timeout on loopback).
    public init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw MetricsScrapeError.system("connect", errno)
        }
    }

    deinit { close(fd) }

    /// Waits (bounded) until the peer closes the connection (a read returns end of stream or an error).
    public func waitForClose(timeout: Double) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let ready = poll(&entry, 1, 100)
            guard ready > 0 else { continue }
            var byte: UInt8 = 0
            let count = recv(fd, &byte, 1, 0)
            if count <= 0 { return true }
        }
        return false
    }
}
