/// The fields of a `SubmitSharesStandard` / `SubmitSharesExtended` the validator needs.
public struct Share: Hashable, Sendable {
    /// The job the share is for.
    public var jobID: UInt32
    /// Header nonce.
    public var nonce: UInt32
    /// Header timestamp.
    public var ntime: UInt32
    /// Header version (possibly rolled).
    public var version: UInt32
    /// The rollable extranonce (extended channels); empty for standard channels.
    public var extranonce: Extranonce

    /// Creates a share.
    @inlinable public init(jobID: UInt32, nonce: UInt32, ntime: UInt32, version: UInt32, extranonce: Extranonce = .empty) {
        self.jobID = jobID
        self.nonce = nonce
        self.ntime = ntime
        self.version = version
        self.extranonce = extranonce
    }
}
