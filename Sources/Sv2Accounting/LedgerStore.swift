public import Sv2Pool

/// A database the ``ShareLedger``'s writer commits windows to. Called on the writer thread only.
public protocol LedgerStore: AnyObject {
    /// Writes `windows` (in sequence order) in one transaction; returns only once it is durable. On a throw
    /// nothing of it may be visible, and the writer retries the same windows.
    func commit(_ windows: ArraySlice<ShareWindow>) throws(AccountingError)
}
