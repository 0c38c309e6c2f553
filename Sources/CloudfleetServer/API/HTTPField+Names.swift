import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    /// `X-Request-ID`, echoed on every response and recorded in audit events.
    static let requestID = HTTPField.Name("X-Request-ID")!
    /// `Pragma`, for `no-cache` beside `Cache-Control: no-store` on responses holding a credential.
    static let pragma = HTTPField.Name("Pragma")!
}
