import CloudfleetCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging

/// `POST /v1/auth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4). The client is a token: its
/// ID is the `client_id` and its secret the `client_secret`, sent with HTTP Basic or as form fields. Errors use
/// the RFC's own form (§5.2), `{"error": "invalid_client", "error_description": …}`.
struct OAuthTokenController {
    let authenticator: Authenticator
    let gate: AuthenticationGate

    func addRoutes(to router: AppRouter) {
        router.post("v1/auth/token", use: token)
    }

    private struct TokenForm: Decodable {
        let grant_type: String?
        let client_id: String?
        let client_secret: String?
        let scope: String?
    }

    private struct Success: ResponseEncodable {
        let access_token: String
        let token_type: String
        let expires_in: Int
    }

    @Sendable func token(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let contentType = request.headers[.contentType],
            MediaType(from: contentType)?.isType(.applicationUrlEncoded) == true
        else {
            return try Self.error("invalid_request", "Send the request as application/x-www-form-urlencoded.", status: .badRequest, context)
        }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let form = try? URLEncodedFormDecoder().decode(TokenForm.self, from: String(buffer: body)) else {
            return try Self.error("invalid_request", "The form could not be read.", status: .badRequest, context)
        }
        guard let grantType = form.grant_type else {
            return try Self.error("invalid_request", "grant_type is required.", status: .badRequest, context)
        }
        guard grantType == "client_credentials" else {
            return try Self.error("unsupported_grant_type", "Only client_credentials is supported.", status: .badRequest, context)
        }
        let clientID: String
        let clientSecret: String
        if let basic = request.headers.basic {
            // RFC 6749 §2.3.1: Basic credentials are form-encoded before base64.
            clientID = basic.username.removingPercentEncoding ?? basic.username
            clientSecret = basic.password.removingPercentEncoding ?? basic.password
            guard form.client_id == nil || form.client_id == clientID, form.client_secret == nil else {
                return try Self.error("invalid_request", "Use one client authentication method, not two.", status: .badRequest, context)
            }
        } else if let id = form.client_id, let secret = form.client_secret {
            clientID = id
            clientSecret = secret
        } else {
            return try Self.error("invalid_client", "Client authentication is required.", status: .unauthorized, context)
        }
        let verified: Authenticator.Verified
        do {
            verified = try await gate.authenticate(
                .basic(id: clientID, secret: clientSecret), path: .tokenEndpoint, sourceIP: context.sourceIP,
                userAgent: request.headers[.userAgent], requestID: context.id, logger: context.logger)
        } catch let refusal as AuthenticationGate.Refusal {
            switch refusal {
            case .unauthorized:
                return try Self.error("invalid_client", "Client authentication failed.", status: .unauthorized, context)
            case .expired(let at):
                return try Self.error("invalid_client", "The token expired at \(at.formatted(.iso8601)).", status: .unauthorized, context)
            case .addressNotAllowed:
                return try Self.error(
                    "invalid_client", "The token may not be used from this address (see its allowed_cidrs).", status: .forbidden, context)
            case .rateLimited(let retryAfter):
                var response = try Self.error(
                    "slow_down", "Too many failed authentications; retry in \(retryAfter) s.", status: .tooManyRequests, context)
                response.headers[.retryAfter] = String(retryAfter)
                return response
            }
        }
        context.requestLog.tokenID = verified.state.id
        let issued = try await authenticator.issueAccessToken(for: verified)
        return try Success(access_token: issued.token, token_type: "Bearer", expires_in: issued.expiresIn)
            .response(from: request, context: context)
            .withNoStore()
    }

    private static func error(_ code: String, _ description: String, status: HTTPResponse.Status, _ context: AppRequestContext)
        throws -> Response
    {
        let body = try JSONEncoder().encode(["error": code, "error_description": description])
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Basic realm=\"cloudfleet\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body))).withNoStore()
    }
}

extension Response {
    /// Marks a response that carries a credential as never to be cached (RFC 6749 §5.1).
    func withNoStore() -> Response {
        var response = self
        response.headers[.cacheControl] = "no-store"
        response.headers[.pragma] = "no-cache"
        return response
    }
}
