import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The one request context of the server: the authenticated principal, the request ID and the peer address.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the authentication middleware; `nil` on the few public routes.
    public var principal: Principal?
    /// The token state and the secret behind the principal, set with it by the authentication middleware.
    var authentication: TokenAuthentication?
    /// Which secret of the principal's token authenticated the request.
    public var secretSlot: SecretSlot { authentication?.verified.slot ?? .current }
    /// The peer's address, `nil` in router tests.
    public let remoteAddress: SocketAddress?
    /// What inner middleware learn for the request log line, which the outermost middleware writes.
    let requestLog = RequestLogFacts()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Request bodies of the API are small; anything larger is refused with 413.
    public var maxUploadSize: Int { Self.uploadLimit }

    /// The largest request body, in bytes.
    static let uploadLimit = 64 * 1024

    /// JSON with ISO 8601 dates and sorted keys, so output is stable.
    public var responseEncoder: JSONEncoder { Self.makeResponseEncoder() }

    /// The encoder of every JSON response; the ``JSONWritable`` responses write the same bytes.
    static func makeResponseEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The source IP for audit events and last use.
    public var sourceIP: String? { remoteAddress?.ipAddressText }

    /// The audit context of the authenticated principal.
    func auditContext() throws -> AuditContext {
        AuditContext(actor: try requirePrincipal().auditActor, sourceIP: sourceIP, requestID: id)
    }

    /// The principal; throws 401 when the route was reached without authentication (a wiring mistake).
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw APIError.unauthorized }
        return principal
    }

    /// Checks that the principal may perform `action` in `organization`, with the one authorization function.
    func authorize(_ action: Action, in organization: OrganizationID) throws {
        switch Authorization.decide(try requirePrincipal(), action, in: organization) {
        case .allowed: return
        case .forbidden: throw APIError.forbidden
        case .notFound: throw APIError.notFound("Resource")
        }
    }
}

/// What the authentication middleware found. Small: the token state is a reference, so the context, which every
/// middleware copies, carries one pointer for it.
struct TokenAuthentication: Sendable {
    let verified: Authenticator.Verified
    /// How the request authenticated: `basic` or `bearer`.
    let credentialKind: AuthenticationGate.Credentials.Kind
}

/// Facts for the request log line. A reference: the context is copied into each middleware, so what the
/// authentication middleware learns would not otherwise reach the log middleware around it.
final class RequestLogFacts: Sendable {
    private let authenticatedToken = Mutex<TokenID?>(nil)

    /// The token the request authenticated as, once its credentials checked out. Never a claimed, unverified ID.
    var tokenID: TokenID? {
        get { authenticatedToken.withLock { $0 } }
        set { authenticatedToken.withLock { $0 = newValue } }
    }
}
