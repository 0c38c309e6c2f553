import CloudfleetAPI
import CloudfleetCore
import ExtrasBase64
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging

/// Requires a valid token on every route behind it (each `/v1` route, through ``AuthenticatedRoutes``):
/// `Authorization: Basic` with `token_id:secret`, or `Authorization: Bearer` with an access token. Refusals answer
/// 401 (with `WWW-Authenticate`; a clear `token_expired` when the right secret of an expired token was given), 403
/// `address_not_allowed` outside the token's IP fence, or 429 with `Retry-After` after too many failures. The
/// reason goes to the debug log, never the credential. Responses to a token that expires carry its expiry in
/// `Cloudfleet-Token-Expires-At`.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let gate: AuthenticationGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let verified: Authenticator.Verified
        let credentials = request.headers.presentedCredentials
        do {
            verified = try await gate.authenticate(
                credentials, path: .api, sourceIP: context.sourceIP, userAgent: request.headers[.userAgent],
                requestID: context.id, logger: context.logger)
        } catch let refusal as AuthenticationGate.Refusal {
            throw APIError(refusal)
        }
        let state = verified.state
        context.requestLog.tokenID = state.id
        context.principal = Principal(kind: .token(state.id), organizationID: state.organizationID, role: state.role)
        if let credentials { context.authentication = TokenAuthentication(verified: verified, credentialKind: credentials.kind) }
        // `UTCTimestamp` writes what Foundation's ISO 8601 style writes, without its calendar machinery on every
        // request of a token that expires.
        guard let expiresAt = state.expiresAt.map({ UTCTimestamp.format($0) ?? $0.formatted(.iso8601) }) else {
            return try await next(request, context)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Errors answered to the token (403, 404, 422…) carry its expiry too; store outages pass on untouched,
            // so that the error middleware logs their cause.
            guard var apiError = APIError(translating: error), apiError.status != .serviceUnavailable else { throw error }
            apiError.headers[.tokenExpiresAt] = expiresAt
            throw apiError
        }
        response.headers[.tokenExpiresAt] = expiresAt
        return response
    }
}

extension HTTPFields {
    /// Basic or Bearer credentials, if the request carries either in its one `Authorization` field (none when it
    /// has two or more).
    ///
    /// Read over the value's UTF-8 bytes in place, with one pass over the fields: HummingbirdAuth's `basic` and
    /// `bearer` compare and split `Character`s, which was 3.5 % of an authenticated request, and `String.UTF8View`'s
    /// `starts(with:)` steps through generic iterators. The rules are theirs: the scheme is matched as written, and
    /// Basic needs a non-empty ID and secret around the first colon.
    var presentedCredentials: AuthenticationGate.Credentials? {
        guard var authorization = onlyValue(.authorization) else { return nil }
        enum Scheme { case basic([UInt8]), bearer }
        let scheme = authorization.withUTF8 { bytes -> Scheme? in
            if bytes.starts(with: Self.basicScheme) {
                return (try? Base64.decode(bytes: bytes[Self.basicScheme.count...])).map(Scheme.basic)
            }
            return bytes.starts(with: Self.bearerScheme) ? .bearer : nil
        }
        switch scheme {
        case .basic(let decoded):
            guard let colon = decoded.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon < decoded.count - 1 else { return nil }
            return .basic(
                id: String(decoding: decoded[..<colon], as: UTF8.self), secret: String(decoding: decoded[(colon + 1)...], as: UTF8.self))
        case .bearer:
            return .bearer(Substring(authorization.utf8.dropFirst(Self.bearerScheme.count)))
        case nil:
            return nil
        }
    }

    private static let basicScheme = Array("Basic ".utf8)
    private static let bearerScheme = Array("Bearer ".utf8)
}

extension HTTPFields {
    /// The value of the one field named `name`: `nil` when it is missing or repeated. Cheaper than HTTPTypes'
    /// subscript, which joins the values of every field of that name into a new string on each read.
    func onlyValue(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            guard found == nil else { return nil }
            found = field.value
        }
        return found
    }
}

extension APIError {
    /// The `/v1` answer to a refused authentication.
    init(_ refusal: AuthenticationGate.Refusal) {
        switch refusal {
        case .unauthorized:
            self = .unauthorized
        case .expired(let at):
            self = APIError(
                .unauthorized, code: "token_expired",
                message: "The token expired at \(at.formatted(.iso8601)); create a new token or ask an Administrator to extend it.",
                headers: APIError.unauthorized.headers)
        case .addressNotAllowed:
            self = APIError(
                .forbidden, code: "address_not_allowed", message: "The token may not be used from this address (see its allowed_cidrs).")
        case .rateLimited(let retryAfter):
            self = APIError(
                .tooManyRequests, code: "rate_limited", message: "Too many failed authentications; retry in \(retryAfter) s.",
                headers: [.retryAfter: String(retryAfter)])
        }
    }
}
