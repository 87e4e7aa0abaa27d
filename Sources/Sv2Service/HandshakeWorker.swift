import Foundation
import Reactor
import Sv2Noise

/// Where a ``HandshakeWorker`` delivers its answers (the server, on its loop thread).
protocol HandshakeAnswerSink: AnyObject {
    /// A batch of computed act 2s (loop thread).
    func handshakesAnswered(_ answers: [HandshakeWorker.Answer])
}

/// Answers Noise act 1s on a thread of its own, so a server's event loop never spends the ~250 µs of ECDH,
/// key generation and signing an act 2 costs (issue #14: a flood of random act 1s must not delay the shares of
/// established connections).
///
/// The loop hands over `(connection, act 1)` with ``submit(_:actOne:)``; the worker computes act 2 and the transport
/// session and passes the answers back in batches through `EventLoop.execute`, at most one delivery task pending at
/// a time (so the loop's task queue never grows with the flood). The job queue needs no bound of its own: every job
/// is a connection counted in the server's `maxHandshakesInFlight`, which admission control already caps.
final class HandshakeWorker: @unchecked Sendable {
    /// One computed act 2 (or why it failed) for a connection.
    struct Answer {
        let connection: Sv2ConnectionID
        let result: Result<Response, Sv2NoiseError>
    }

    /// Act 2's bytes and the session that follows them. A class: the non-copyable session crosses the thread
    /// boundary once, inside it, and is taken out on the loop.
    final class Response: @unchecked Sendable {
        let actTwo: [UInt8]
        var session: NoiseSession?

        init(actTwo: [UInt8], session: consuming NoiseSession) {
            self.actTwo = actTwo
            self.session = .some(session)
        }
    }

    private let identity: NoiseResponder.Identity
    private let eventLoop: EventLoop
    /// Gets each batch of answers, on the loop thread (weak: a released server is not kept alive by its worker).
    private weak var sink: (any HandshakeAnswerSink)?
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [(connection: Sv2ConnectionID, actOne: [UInt8])] = []
    private var jobsHead = 0
    private var answers: [Answer] = []
    private var deliveryPending = false
    private var stopped = false
    private var started = false

    /// A worker for `identity` delivering to `sink` on `eventLoop`; its thread starts with the first job.
    init(identity: NoiseResponder.Identity, eventLoop: EventLoop, sink: any HandshakeAnswerSink) {
        self.identity = identity
        self.eventLoop = eventLoop
        self.sink = sink
    }

    /// Queues an act 1 (loop thread).
    func submit(_ connection: Sv2ConnectionID, actOne: UnsafeRawBufferPointer) {
        let bytes = Array(actOne)
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        jobs.append((connection, bytes))
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "sv2-handshakes"
            thread.start()
        }
        condition.signal()
    }

    /// Drops queued jobs and ends the thread after its current job; later answers are never delivered.
    func stop() {
        condition.lock()
        stopped = true
        jobs.removeAll()
        jobsHead = 0
        answers.removeAll()
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while !stopped && jobsHead == jobs.count { condition.wait() }
            if stopped {
                condition.unlock()
                return
            }
            let job = jobs[jobsHead]
            jobsHead += 1
            if jobsHead == jobs.count {
                jobs.removeAll(keepingCapacity: jobs.count <= 1024)
                jobsHead = 0
            }
            condition.unlock()

            let answer = Answer(connection: job.connection, result: respond(to: job.actOne))
            condition.lock()
            guard !stopped else {
                condition.unlock()
                return
            }
            answers.append(answer)
            let schedule = !deliveryPending
            deliveryPending = true
            condition.unlock()
            if schedule { eventLoop.execute { [self] in flush() } }
        }
    }

    private func respond(to actOne: [UInt8]) -> Result<Response, Sv2NoiseError> {
        let one = UnsafeMutableRawBufferPointer.allocate(byteCount: actOne.count, alignment: 1)
        let two = UnsafeMutableRawBufferPointer.allocate(byteCount: NoiseResponder.actTwoSize, alignment: 1)
        defer {
            one.deallocate()
            two.deallocate()
        }
        actOne.withUnsafeBytes { one.copyMemory(from: $0) }
        do throws(Sv2NoiseError) {
            var responder = try NoiseResponder(identity: identity)
            let session = try responder.respond(toActOne: UnsafeRawBufferPointer(one), into: two)
            return .success(Response(actTwo: Array(two), session: session))
        } catch {
            return .failure(error)
        }
    }

    /// Hands every answer computed so far to the server (loop thread).
    private func flush() {
        condition.lock()
        let batch = answers
        answers.removeAll(keepingCapacity: true)
        deliveryPending = false
        condition.unlock()
        if !batch.isEmpty { sink?.handshakesAnswered(batch) }
    }
}
