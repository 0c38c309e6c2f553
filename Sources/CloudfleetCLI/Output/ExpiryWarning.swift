import CloudfleetClient
import Foundation
import Synchronization

/// The warning the CLI prints, once per run and only on standard error, when the `Cloudfleet-Token-Expires-At`
/// header of an API response says the token in use expires within ``window`` (or has expired).
struct ExpiryWarning: Equatable {
    /// How far ahead an expiry is worth a warning.
    static let window: TimeInterval = 7 * 86_400

    let expiresAt: Date
    /// Seconds until the expiry; negative once it has passed.
    let remaining: TimeInterval

    /// The warning due for a header value seen at `now`, or `nil` (no header, an unreadable one, or an expiry
    /// further away than `window`). Pure, so it can be tested.
    static func decide(header: String?, now: Date, window: TimeInterval = Self.window) -> ExpiryWarning? {
        guard let header, let expiresAt = RFC3339.date(header) else { return nil }
        let remaining = expiresAt.timeIntervalSince(now)
        guard remaining <= window else { return nil }
        return ExpiryWarning(expiresAt: expiresAt, remaining: remaining)
    }

    /// The line to print, naming the token as `subject` (such as "the token of profile ci (ID)").
    func line(subject: String, tokenID: String) -> String {
        let when = "\(Renderer.date(expiresAt)) UTC"
        let advice =
            "ask an Administrator to extend it (cloudfleet tokens update \(tokenID) --expires-in 90d) or create a new token and add it with `cloudfleet auth add-profile token`"
        if remaining <= 0 {
            return "warning: \(subject) expired at \(when); \(advice)."
        }
        return "warning: \(subject) expires at \(when) (\(Renderer.relative(remaining))); \(advice)."
    }

    /// How the credentials in use are named in the warning.
    static func subject(_ credentials: ResolvedCredentials) -> String {
        if let profile = credentials.profileName {
            return "the token of profile \(profile) (\(credentials.tokenID))"
        }
        return "the token of the CLOUDFLEET_TOKEN_* variables (\(credentials.tokenID))"
    }

    /// Whether this run has printed its warning already.
    private static let printed = Mutex(false)

    /// Prints the warning for `header` to standard error, unless one was printed already in this run.
    static func report(header: String, credentials: ResolvedCredentials, now: Date = Date()) {
        guard let warning = decide(header: header, now: now) else { return }
        let first = printed.withLock { printed in
            defer { printed = true }
            return !printed
        }
        guard first else { return }
        FileHandle.standardError.write(Data((warning.line(subject: subject(credentials), tokenID: credentials.tokenID) + "\n").utf8))
    }
}
