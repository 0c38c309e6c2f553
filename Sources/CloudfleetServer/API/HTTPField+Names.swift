import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    /// `X-Request-ID`, echoed on every response and recorded in audit events.
    static let requestID = HTTPField.Name("X-Request-ID")!
    /// `Pragma`, for `no-cache` beside `Cache-Control: no-store` on responses holding a credential.
    static let pragma = HTTPField.Name("Pragma")!
}

extension HTTPField.Name {
    /// `Cloudfleet-Token-Expires-At`: when the authenticating token expires (ISO 8601), on every response to a
    /// token that has an expiry, so clients can warn before it happens.
    static let tokenExpiresAt = HTTPField.Name("Cloudfleet-Token-Expires-At")!
}

/// The console's security headers that HTTPTypes does not name.
extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
