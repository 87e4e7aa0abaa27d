import Foundation
import Glibc

/// Why a child app could not be used.
enum AppProcessError: Error {
    /// No `sv2` executable at any of these paths.
    case executableMissing([String])
    /// The app never said it was listening (it exited or the time ran out); what it printed.
    case notListening(output: [String])
}

/// A child process whose standard output is collected line by line on a background thread.
final class AppProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = ""
    /// The pipe reached end of file: every byte the child wrote is in `lines`.
    private var ended = false

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            guard !data.isEmpty else {
                // End of file: the last line may lack its newline.
                if !self.partial.isEmpty { self.lines.append(self.partial) }
                self.partial = ""
                self.ended = true
                handle.readabilityHandler = nil
                return
            }
            self.partial += String(decoding: data, as: UTF8.self)
            while let newline = self.partial.firstIndex(of: "\n") {
                self.lines.append(String(self.partial[..<newline]))
                self.partial = String(self.partial[self.partial.index(after: newline)...])
            }
        }
        try process.run()
    }

    /// Every complete line printed so far.
    var output: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    /// The `sv2` executable built beside this test bundle (`swift build --build-tests` / `swift test` build it).
    static func sv2Executable() throws -> String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("sv2").path }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw AppProcessError.executableMissing(candidates)
        }
        return path
    }

    /// Waits (bounded) for a line containing `text`; `nil` if the process exited or the time ran out first.
    func waitForLine(containing text: String, timeout: Double = 60) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = output.first(where: { $0.contains(text) }) { return line }
            if !process.isRunning {
                // The child may have printed the line just before exiting: read the pipe to its end first.
                waitForEndOfOutput(until: deadline)
                return output.first(where: { $0.contains(text) })
            }
            usleep(10_000)
        }
        return nil
    }

    /// Waits (bounded) until the pipe reached end of file, so `output` holds everything the exited child printed
    /// (the reading handler runs on another thread and can lag behind the process's exit).
    private func waitForEndOfOutput(until deadline: Date) {
        while Date() < deadline {
            lock.lock()
            let done = ended
            lock.unlock()
            if done { return }
            usleep(5_000)
        }
    }

    /// Waits (bounded) for a line containing `text` that ends in an address (`…:PORT`, e.g. `pool listening on
    /// 127.0.0.1:40123`) and returns its port; `nil` if no such line came.
    func waitForPort(inLineContaining text: String, timeout: Double = 60) throws -> UInt16? {
        try waitForLine(containing: text, timeout: timeout)?.split(separator: ":").last
            .flatMap { UInt16($0.prefix { $0.isNumber }) }
    }

    /// Sends signal `number` to the process.
    func signal(_ number: Int32) { Glibc.kill(process.processIdentifier, number) }

    /// The child's process id.
    var processIdentifier: Int32 { process.processIdentifier }

    /// The exit status once the process ended within `timeout` seconds; `nil` if it is still running.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        // What it printed last (e.g. an exit summary) must be in `output` when the caller looks.
        waitForEndOfOutput(until: Date().addingTimeInterval(10))
        return process.terminationStatus
    }

    /// Kills the process if it still runs (test clean-up).
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
