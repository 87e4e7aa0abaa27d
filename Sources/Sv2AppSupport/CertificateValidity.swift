/// The validity window of a server certificate `days` days long from `now`: certificates carry 32-bit unix times,
/// so the end must not pass 2106-02-07 (checked, not trapped on).
public enum CertificateValidity {
    /// The longest validity accepted, in days (about 100 years, within the 32-bit time range for decades).
    public static let maxDays: UInt64 = 36_500

    /// `(validFrom, notValidAfter)` for a certificate valid `days` days from unix time `now`.
    public static func window(now: UInt64, days: UInt64) throws(AppSupportError) -> (validFrom: UInt32, notValidAfter: UInt32) {
        guard days >= 1 else { throw .certificate("--valid-days must be at least 1") }
        guard days <= maxDays else { throw .certificate("--valid-days \(days) is too long (at most \(maxDays))") }
        let (seconds, overflow) = days.multipliedReportingOverflow(by: 86_400)
        let (end, overflowEnd) = now.addingReportingOverflow(seconds)
        guard !overflow, !overflowEnd, end <= UInt64(UInt32.max), now <= UInt64(UInt32.max) else {
            throw .certificate("--valid-days \(days): the certificate would end after 2106-02-07, the last time it can name")
        }
        return (UInt32(now), UInt32(end))
    }

    /// Checks a per-connection certificate validity in seconds (`--certificate-validity`).
    public static func seconds(_ value: Int) throws(AppSupportError) -> UInt32 {
        guard value >= 1, value <= 366 * 86_400 else {
            throw .certificate("--certificate-validity must be within 1…\(366 * 86_400) seconds, not \(value)")
        }
        return UInt32(value)
    }
}
