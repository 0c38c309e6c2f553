import Foundation

/// What went wrong talking to the API, phrased for the person at the terminal. Never holds a secret.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 401: the credentials were refused.
    case unauthorized
    /// 401 `token_expired` (or the token endpoint's `invalid_client` saying so): the right secret of an expired
    /// token. The instant it expired, when the server said it.
    case tokenExpired(at: Date?)
    /// 403: the token's role does not allow the action.
    case forbidden(String)
    /// 403 `address_not_allowed`: the token may not be used from this address (its `allowed_cidrs`).
    case addressNotAllowed
    /// 404: no such resource in the token's organization.
    case notFound(String)
    /// 400/413/415/422: the request was refused as invalid.
    case invalid(String)
    /// 409.
    case conflict(String)
    /// 429: too many failed authentications; retry after this many seconds (when the server said).
    case rateLimited(retryAfter: Int?)
    /// The server could not be reached.
    case unreachable(url: String, reason: String)
    /// 5xx or an answer that could not be read.
    case server(status: Int, message: String)

    public var description: String {
        switch self {
        case .unauthorized:
            "authentication failed: the token ID or secret is wrong, or the token was regenerated, deleted or has expired. "
                + "Check the profile with `cloudfleet auth whoami`, or add the current secret with `cloudfleet auth add-profile token`."
        case .tokenExpired(let at):
            "the token expired"
                + (at.map { " at \($0.formatted(.iso8601))" } ?? "")
                + ". Ask an Administrator to extend it (`cloudfleet tokens update TOKEN_ID --expires-in 90d`) or create a new token, "
                + "then add its secret with `cloudfleet auth add-profile token`."
        case .forbidden(let message):
            "permission denied: \(message) Only Administrator tokens can make changes."
        case .addressNotAllowed:
            "the token may not be used from this address: it is outside the token's allowed networks (allowed_cidrs). "
                + "Run the command from an allowed network, or ask an Administrator to run "
                + "`cloudfleet tokens update TOKEN_ID --allowed-cidr CIDR` (or `--any-address`)."
        case .notFound(let message):
            "not found: \(message)"
        case .invalid(let message):
            "invalid request: \(message)"
        case .conflict(let message):
            "conflict: \(message)"
        case .rateLimited(let retryAfter):
            "too many failed authentications for this token or from this address; "
                + (retryAfter.map { "retry in \($0) second\($0 == 1 ? "" : "s")" } ?? "retry in a minute")
                + ". Check the secret first (`cloudfleet auth whoami`): a wrong one keeps failing."
        case .unreachable(let url, let reason):
            "cannot reach the Cloudfleet API at \(url): \(reason). Check --api-url, the profile's API URL or CLOUDFLEET_API_URL."
        case .server(let status, let message):
            "the server failed (HTTP \(status)): \(message) Retry later."
        }
    }

    /// The process exit code documented for this error.
    public var exitCode: Int32 {
        switch self {
        case .invalid: 2
        case .unauthorized, .tokenExpired: 3
        case .forbidden, .addressNotAllowed: 4
        case .notFound: 5
        case .unreachable: 6
        case .server: 7
        case .conflict: 8
        case .rateLimited: 9
        }
    }
}
