import CloudfleetCore
import Foundation
import Hummingbird
import HummingbirdAuth
import Logging

/// Requires a valid token on every route behind it: `Authorization: Basic` with `token_id:secret`, or
/// `Authorization: Bearer` with an access token. Failures answer 401 with `WWW-Authenticate` and say nothing
/// more to the client; the reason goes to the debug log (never the credential).
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let authenticator: Authenticator
    let usage: UsageRecorder
    let clock: @Sendable () -> Date

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let state: TokenVerificationState
        do {
            if let basic = request.headers.basic {
                state = try await authenticator.verify(tokenID: basic.username, secret: basic.password)
            } else if let bearer = request.headers.bearer {
                state = try await authenticator.verify(accessToken: bearer.token)
            } else {
                throw Authenticator.Failure.malformed
            }
        } catch let failure as Authenticator.Failure {
            context.logger.debug("authentication failed", metadata: ["reason": "\(failure)"])
            throw APIError.unauthorized
        }
        context.principal = Principal(kind: .token(state.id), organizationID: state.organizationID, role: state.role)
        context.logger[metadataKey: "token_id"] = "\(state.id)"
        usage.record(state.id, at: clock(), sourceIP: context.sourceIP)
        return try await next(request, context)
    }
}
