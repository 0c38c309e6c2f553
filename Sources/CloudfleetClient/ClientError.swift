/// What went wrong talking to the API, phrased for the person at the terminal. Never holds a secret.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 401: the credentials were refused.
    case unauthorized
    /// 403: the token's role does not allow the action.
    case forbidden(String)
    /// 404: no such resource in the token's organization.
    case notFound(String)
    /// 400/413/415/422: the request was refused as invalid.
    case invalid(String)
    /// 409.
    case conflict(String)
    /// The server could not be reached.
    case unreachable(url: String, reason: String)
    /// 5xx or an answer that could not be read.
    case server(status: Int, message: String)

    public var description: String {
        switch self {
        case .unauthorized:
            "authentication failed: the token ID or secret is wrong, or the token was regenerated, deleted or has expired. "
                + "Check the profile with `cloudfleet auth whoami`, or add the current secret with `cloudfleet auth add-profile token`."
        case .forbidden(let message):
            "permission denied: \(message) Only Administrator tokens can make changes."
        case .notFound(let message):
            "not found: \(message)"
        case .invalid(let message):
            "invalid request: \(message)"
        case .conflict(let message):
            "conflict: \(message)"
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
        case .unauthorized: 3
        case .forbidden: 4
        case .notFound: 5
        case .unreachable: 6
        case .server: 7
        case .conflict: 8
        }
    }
}
