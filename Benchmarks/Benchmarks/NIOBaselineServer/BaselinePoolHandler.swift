import NIOCore
import Sv2Codec
import Sv2Bitcoin
import Sv2Mining
import Sv2Noise
import Synchronization

/// Counters shared by every connection (atomics: the server may run several event loops).
final class BaselineCounters: Sendable {
    let nextChannelID = Atomic<UInt32>(0)
    let sharesAccepted = Atomic<Int>(0)
    let sharesRejected = Atomic<Int>(0)
    let connections = Atomic<Int>(0)
}

/// The same minimal pool as `ReferencePool` (Sources/Sv2LoadTest): SetupConnection for Mining,
/// OpenStandardMiningChannel with the requested target plus one job and chain tip, every SubmitSharesStandard
/// validated with Sv2Mining's `ShareValidator` and acknowledged one by one, a fresh job sent when a channel's duplicate
/// filter fills (as `ReferencePool` does, so long closed-loop runs stay accepted). Replies are appended to one
/// per-connection buffer and written once per read batch (`channelReadComplete`).
final class BaselinePoolHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let jobID: UInt32 = 1
    static let version: UInt32 = 0x2000_0000
    static let nbits: UInt32 = 0x1703_0ecd
    static let minNtime: UInt32 = 1_750_000_000
    static let prevHash = Hash256(hex: String(repeating: "ab", count: 32))!

    private let counters: BaselineCounters
    private let noise: NoiseState?
    private var isSetUp = false
    private var validators: [UInt32: ShareValidator] = [:]
    /// Per channel: its merkle root, target and last job id, to issue a fresh job when the duplicate filter fills.
    private var work: [UInt32: (merkleRoot: Hash256, target: Target, lastJobID: UInt32)] = [:]
    private var output: ByteBuffer?

    init(counters: BaselineCounters, noise: NoiseState?) {
        self.counters = counters
        self.noise = noise
    }

    func channelActive(context: ChannelHandlerContext) {
        counters.connections.add(1, ordering: .relaxed)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        counters.connections.subtract(1, ordering: .relaxed)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        do {
            try frame.withUnsafeReadableBytes { raw in
                let header = Sv2FrameHeader(loadingFrom: raw.baseAddress!)
                let payload = UnsafeRawBufferPointer(rebasing: raw[Sv2FrameHeader.size...])
                try handle(header, payload, context: context)
            }
        } catch {
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let output, output.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(output), promise: nil)
            self.output = nil
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func handle(_ header: Sv2FrameHeader, _ payload: UnsafeRawBufferPointer, context: ChannelHandlerContext) throws {
        guard let type = header.knownMessageType else { throw BaselineError.unexpected }
        switch type {
        case .setupConnection:
            let setup = try SetupConnectionView(payload: Sv2Bytes(unsafeBytes: payload))
            guard !isSetUp, setup.protocolID == 0, setup.minVersion <= 2, setup.maxVersion >= 2 else {
                throw BaselineError.unexpected
            }
            isSetUp = true
            try send(SetupConnectionSuccess(usedVersion: 2, flags: 0), context: context)
        case .openStandardMiningChannel:
            guard isSetUp else { throw BaselineError.unexpected }
            let open = try OpenStandardMiningChannelView(payload: Sv2Bytes(unsafeBytes: payload))
            let channelID = counters.nextChannelID.add(1, ordering: .relaxed).newValue
            var merkle = [UInt8](repeating: 0x5a, count: 32)
            withUnsafeBytes(of: channelID.littleEndian) { for (i, byte) in $0.enumerated() { merkle[i] = byte } }
            let merkleRoot = Hash256(bytes: merkle)!
            let target = Target(UInt256(w0: open.maxTarget.limbs.0, w1: open.maxTarget.limbs.1,
                                        w2: open.maxTarget.limbs.2, w3: open.maxTarget.limbs.3))
            var validator = ShareValidator(maximumActiveJobs: 1, staleMemory: 1)
            validator.activate(ShareJob(
                standardJobID: Self.jobID, version: Self.version, prevHash: Self.prevHash, merkleRoot: merkleRoot,
                nbits: Self.nbits, minNtime: Self.minNtime, target: target), newChainTip: true)
            validators[channelID] = validator
            work[channelID] = (merkleRoot, target, Self.jobID)
            var prefix: [UInt8] = []
            withUnsafeBytes(of: channelID.bigEndian) { prefix.append(contentsOf: $0) }
            try send(OpenStandardMiningChannelSuccess(
                requestID: open.requestID, channelID: channelID, target: open.maxTarget, extranoncePrefix: prefix,
                groupChannelID: 0), context: context)
            try send(NewMiningJob(channelID: channelID, jobID: Self.jobID, minNtime: nil, version: Self.version,
                                  merkleRoot: U256(bytes: merkle)!), context: context)
            try send(SetNewPrevHash(channelID: channelID, jobID: Self.jobID, prevHash: U256(bytes: Self.prevHash.bytes)!,
                                    minNtime: Self.minNtime, nbits: Self.nbits), context: context)
        case .submitSharesStandard:
            let share = try SubmitSharesStandardView(payload: Sv2Bytes(unsafeBytes: payload))
            guard validators[share.channelID] != nil else {
                counters.sharesRejected.add(1, ordering: .relaxed)
                return try send(SubmitSharesError(channelID: share.channelID, sequenceNumber: share.sequenceNumber,
                                                  errorCode: ShareRejection.invalidChannelID.code), context: context)
            }
            let outcome = validators[share.channelID]!.validate(Share(
                jobID: share.jobID, nonce: share.nonce, ntime: share.ntime, version: share.version))
            switch outcome {
            case .accepted, .blockFound:
                counters.sharesAccepted.add(1, ordering: .relaxed)
                try send(SubmitSharesSuccess(channelID: share.channelID, lastSequenceNumber: share.sequenceNumber,
                                             newSubmitsAcceptedCount: 1, newSharesSum: 1), context: context)
                if validators[share.channelID]!.needsFreshJob { try renewJob(share.channelID, context: context) }
            case .rejected(let rejection):
                counters.sharesRejected.add(1, ordering: .relaxed)
                try send(SubmitSharesError(channelID: share.channelID, sequenceNumber: share.sequenceNumber,
                                           errorCode: rejection.code), context: context)
            }
        default:
            throw BaselineError.unexpected
        }
    }

    /// The channel's duplicate filter filled: a fresh job above the validator's ntime floor, activated and sent.
    private func renewJob(_ channelID: UInt32, context: ChannelHandlerContext) throws {
        guard var channel = work[channelID] else { return }
        channel.lastJobID &+= 1
        work[channelID] = channel
        let minNtime = validators[channelID]!.ntimeFloor
        validators[channelID]!.activate(ShareJob(
            standardJobID: channel.lastJobID, version: Self.version, prevHash: Self.prevHash,
            merkleRoot: channel.merkleRoot, nbits: Self.nbits, minNtime: minNtime, target: channel.target),
            newChainTip: false)
        try send(NewMiningJob(channelID: channelID, jobID: channel.lastJobID, minNtime: minNtime,
                              version: Self.version, merkleRoot: U256(bytes: channel.merkleRoot.bytes)!),
                 context: context)
    }

    /// Appends `message` (encrypted when Noise is on) to the connection's output buffer.
    private func send<M: Sv2Message>(_ message: M, context: ChannelHandlerContext) throws {
        if output == nil { output = context.channel.allocator.buffer(capacity: 256) }
        let payloadLength = message.encodedSize
        if let noise {
            let size = NoiseSession.encryptedSize(payloadLength: payloadLength)
            try output!.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                // Encode header+payload so that the payload starts at 22, then put the header at 0.
                let shift = NoiseSession.encryptedHeaderSize - Sv2FrameHeader.size
                _ = try message.encodeFrame(into: UnsafeMutableRawBufferPointer(rebasing: out[shift..<size]))
                out.baseAddress!.copyMemory(from: out.baseAddress! + shift, byteCount: Sv2FrameHeader.size)
                return try noise.encryptFrame(in: UnsafeMutableRawBufferPointer(rebasing: out[0..<size]),
                                              payloadLength: payloadLength)
            }
        } else {
            try output!.writeWithUnsafeMutableBytes(minimumWritableBytes: message.frameSize) { out in
                try message.encodeFrame(into: out)
            }
        }
    }
}

enum BaselineError: Error { case unexpected }
