import Reactor
import Sv1
import Sv2Bitcoin
import Sv2Mining

/// One Sv1 device's connection and state. Loop thread only; the translator owns it while the connection is open.
///
/// Reads lines (capped), parses each into a request and hands it to the translator; answers go out through
/// ``send(_:)``. A line over the cap, or too many malformed lines, closes the connection; everything else gets a
/// JSON-RPC answer.
final class Sv1DeviceSession: ConnectionHandler {
    /// Weak: an application that releases its translator while devices are still connected gets those connections
    /// closed on their next read, not a crash on a dangling reference.
    weak var translator: Sv2Translator?
    let connection: Connection
    let splitter: Sv1LineSplitter
    var id: UInt64 { connection.id }

    /// Set once `mining.subscribe` was answered.
    var subscribed = false
    /// A `mining.subscribe` waiting for the upstream channel (its request id).
    var pendingSubscribe: Sv1ID?
    /// The upstream channel the device mines on (`nil` before its subscribe is answered, and while it is kept
    /// through an upstream loss).
    var channelID: UInt32?
    /// Its own channel's `OpenExtendedMiningChannel` request id while unanswered (per-device mode).
    var channelRequest: UInt32?
    /// What the channel's extranonce space handed out (aggregated: `upstream prefix ‖ device id`), given back on
    /// leaving the channel.
    var allocatedPrefix: Extranonce?
    /// What the device puts before extranonce2: `channel prefix ‖ device id ‖ zero padding` (aggregated) or
    /// `channel prefix ‖ zero padding` (per device).
    var extranonce1 = Extranonce.empty
    /// The part of ``extranonce1`` after the channel prefix: the start of every share's upstream extranonce.
    var upstreamExtranoncePrefix: [UInt8] = []
    /// Bytes the device rolls.
    var extranonce2Size = 0
    /// Workers authorized on this connection (bounded).
    var workers: Set<String> = []
    /// BIP310 mask granted (0: no version rolling).
    var versionMask: UInt32 = 0
    /// The device's own floor (`minimum-difficulty`), if it asked for one.
    var minimumDifficulty: Double?
    /// A difficulty the device suggested before its vardiff existed.
    var suggestedDifficulty: Double?
    /// Whether the device takes `mining.set_extranonce`.
    var extranonceSubscribed = false
    /// Per-device difficulty (created at subscribe).
    var vardiff: Vardiff?
    /// The target the last jobs were sent with.
    var target = Target.max
    /// Validates this device's shares against the jobs it was sent (at the difficulty of each).
    var validator: ShareValidator
    /// Lines that failed to parse.
    var malformed = 0
    /// Counters for this device.
    var sharesValid: UInt64 = 0
    var sharesRejected: UInt64 = 0
    var upstreamAccepted: UInt64 = 0
    var upstreamRejected: UInt64 = 0

    init(translator: Sv2Translator, connection: Connection, maxLineLength: Int, duplicateFilterCapacity: Int) {
        self.translator = translator
        self.connection = connection
        splitter = Sv1LineSplitter(maxLineLength: maxLineLength)
        validator = ShareValidator(
            maximumActiveJobs: 8, staleMemory: 32,
            duplicateFilter: DuplicateShareFilter(initialCapacity: 64, maximumCapacity: duplicateFilterCapacity))
    }

    /// Forgets every job (a new extranonce, or no upstream channel): nothing validated before counts again, since
    /// the same header cannot recur under another extranonce1.
    func resetValidator(duplicateFilterCapacity: Int) {
        validator = ShareValidator(
            maximumActiveJobs: 8, staleMemory: 32,
            duplicateFilter: DuplicateShareFilter(initialCapacity: 64, maximumCapacity: duplicateFilterCapacity))
    }

    /// Whether the device can take jobs (subscribed with an extranonce).
    var isMining: Bool { subscribed && vardiff != nil }

    func send(_ line: String) {
        var line = line
        line.withUTF8 { _ = connection.write(UnsafeRawBufferPointer($0)) }
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard let translator else {
            connection.close()
            return bytes.count
        }
        do throws(Sv1ProtocolError) {
            return try splitter.split(UnsafeRawBufferPointer(bytes)) { line in
                handle(line, translator: translator)
                return connection.isOpen
            }
        } catch {
            translator.deviceViolated(self, error)
            return bytes.count
        }
    }

    private func handle(_ line: UnsafeRawBufferPointer, translator: Sv2Translator) {
        let request: Sv1Request
        do throws(Sv1RequestError) {
            request = try Sv1Request(line: line)
        } catch {
            malformed += 1
            translator.deviceSentMalformed(self, error)
            return
        }
        translator.handle(request, from: self)
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        translator?.deviceDidClose(self, reason: reason)
    }
}
