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
    /// boundary once, inside it, and is taken out on the loop. Act 2 is written into it in place (inline storage:
    /// the object is the handshake's one allocation here).
    final class Response: @unchecked Sendable {
        var actTwo = InlineArray<234, UInt8>(repeating: 0)
        var session: NoiseSession?
    }

    private let identity: NoiseResponder.Identity
    private let eventLoop: EventLoop
    /// Gets each batch of answers, on the loop thread. The server passes its `Lifeline`, not itself: a released server
    /// is not kept alive by its worker, and is not held weakly either (that would give it a side table).
    private let sink: any HandshakeAnswerSink
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [(connection: Sv2ConnectionID, actOne: InlineArray<64, UInt8>)] = []
    private var jobsHead = 0
    private var answers: [Answer] = []
    /// The array the last delivery emptied, swapped with `answers` at the next one so neither reallocates.
    private var spareAnswers: [Answer] = []
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
        precondition(actOne.count == NoiseResponder.actOneSize, "act 1 is 64 bytes")
        var bytes = InlineArray<64, UInt8>(repeating: 0)
        withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: actOne) }
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        jobs.append((connection, bytes))
        if !started {
            started = true
            let thread = Thread { [self] in
                // Named from inside: Foundation on Linux does not apply `Thread.name` set before `start()`.
                nameCurrentThread("sv2-handshakes")
                run()
            }
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

    private func respond(to actOne: InlineArray<64, UInt8>) -> Result<Response, Sv2NoiseError> {
        let response = Response()
        do throws(Sv2NoiseError) {
            var responder = try NoiseResponder(identity: identity)
            try withUnsafeBytes(of: actOne) { (one) throws(Sv2NoiseError) in
                try withUnsafeMutableBytes(of: &response.actTwo) { (two) throws(Sv2NoiseError) in
                    response.session = try responder.respond(toActOne: one, into: two)
                }
            }
            return .success(response)
        } catch {
            return .failure(error)
        }
    }

    /// Hands every answer computed so far to the server (loop thread).
    private func flush() {
        condition.lock()
        var batch = spareAnswers
        swap(&batch, &answers)
        spareAnswers = []
        deliveryPending = false
        condition.unlock()
        if !batch.isEmpty { sink.handshakesAnswered(batch) }
        batch.removeAll(keepingCapacity: true)
        condition.lock()
        spareAnswers = batch
        condition.unlock()
    }
}
