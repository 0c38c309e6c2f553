import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/tokens`: the API-token lifecycle of the documentation.
struct TokensController {
    let tokens: TokenService
    let rotation: SecretRotation
    let clock: @Sendable () -> Date

    func addRoutes(to group: AuthenticatedRoutes) {
        group.get("tokens", use: list)
        group.post("tokens", use: create)
        // A constant path segment takes precedence over `{id}`, and "self" is never a token ID (22 characters).
        group.get("tokens/self", use: current)
        group.get("tokens/{id}", use: get)
        group.patch("tokens/{id}", use: update)
        group.post("tokens/{id}/secret", use: regenerate)
        group.delete("tokens/{id}", use: delete)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListPage<Token> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.listTokens, in: organization)
        let pagination = try Pagination(request)
        let now = clock()
        var filter = TokenFilter()
        if let within = try Self.duration(request, "expiring_within") {
            filter.expiringBefore = now.addingTimeInterval(within)
            filter.now = now
        }
        if let unused = try Self.duration(request, "unused_for") { filter.unusedSince = now.addingTimeInterval(-unused) }
        let page = try await tokens.list(organization: organization, filter: filter, after: try pagination.tokenCursor(), limit: pagination.limit)
        return ListPage(items: page.items.map { Token($0, rotation: rotation, now: now) }, nextCursor: Pagination.encode(page.next))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TokenWithSecret> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.createToken, in: organization)
        let body = try await RequestBody.decode(CreateTokenRequest.self, from: request, context: context)
        let name = try TokenName(body.name)
        let role = try parseRole(body.role)
        let fence = try body.allowedCIDRs.map { cidrs throws(ValidationError) in try IPFence(cidrs) }
        let issued = try await tokens.create(
            name: name, role: role, expiresAt: body.expiresAt, fence: fence, organization: organization, context: try context.auditContext())
        return EditedResponse(
            status: .created, headers: Self.secretHeaders(location: "/v1/tokens/\(issued.token.id)"),
            response: TokenWithSecret(issued, rotation: rotation, now: clock()))
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Token {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.readToken, in: organization)
        guard let token = try await tokens.get(try Self.tokenID(context), organization: organization) else {
            throw APIError.notFound("Token")
        }
        return Token(token, rotation: rotation, now: clock())
    }

    /// The token that authenticated this request, from the authentication itself (no store read).
    @Sendable func current(_ request: Request, context: AppRequestContext) throws -> CurrentToken {
        let principal = try context.requirePrincipal()
        try context.authorize(.readToken, in: principal.organizationID)
        guard let authentication = context.authentication else { throw APIError.unauthorized }
        let verified = authentication.verified
        let credential = authentication.credentialKind
        let state = verified.state
        return CurrentToken(
            id: state.id.rawValue, name: state.name.rawValue, role: state.role.rawValue, organizationID: state.organizationIDText,
            kubernetesUsername: state.kubernetesUsername, expiresAt: state.expiresAt, credential: credential.rawValue,
            secretInUse: verified.slot == .previous ? "previous" : "current")
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Token {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.updateToken, in: organization)
        let id = try Self.tokenID(context)
        let body = try await RequestBody.decode(UpdateTokenRequest.self, from: request, context: context)
        let change = TokenChange(
            name: try body.name.map { name throws(ValidationError) in try TokenName(name) },
            role: try body.role.map { role throws(ValidationError) in try parseRole(role) }, expiresAt: body.expiresAt,
            allowedCIDRs: try body.allowedCIDRs.map { cidrs throws(ValidationError) in try IPFence(cidrs).entries })
        guard !change.isEmpty else {
            throw APIError.badRequest("Give at least one of name, role, expires_at and allowed_cidrs.", code: "missing_field")
        }
        return Token(
            try await notFoundAsToken {
                try await tokens.update(id, change: change, organization: organization, context: try context.auditContext())
            }, rotation: rotation, now: clock())
    }

    @Sendable func regenerate(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TokenWithSecret> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.regenerateTokenSecret, in: organization)
        let id = try Self.tokenID(context)
        // The body is optional: an empty one regenerates without a grace period, as the documentation's command does.
        let body: RegenerateRequest
        if request.headers[.contentLength] == "0" || (request.headers[.contentType] == nil && request.headers[.contentLength] == nil) {
            body = RegenerateRequest()
        } else {
            body = try await RequestBody.decode(RegenerateRequest.self, from: request, context: context)
        }
        let grace = try body.gracePeriod.map { text throws(ValidationError) -> TimeInterval in
            guard let duration = DurationText(text), duration.timeInterval <= TokenService.maximumGracePeriod else {
                throw ValidationError(field: "grace_period", reason: "must be a duration such as 30m, 1h or 2d, at most 7d")
            }
            return duration.timeInterval
        }
        let issued = try await notFoundAsToken {
            try await tokens.regenerate(id, gracePeriod: grace, organization: organization, context: try context.auditContext())
        }
        return EditedResponse(
            status: .ok, headers: Self.secretHeaders(location: nil), response: TokenWithSecret(issued, rotation: rotation, now: clock()))
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> HTTPResponse.Status {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.deleteToken, in: organization)
        let id = try Self.tokenID(context)
        try await notFoundAsToken {
            try await tokens.delete(id, organization: organization, context: try context.auditContext())
        }
        return .noContent
    }

    // MARK: Helpers

    /// A duration query parameter such as `expiring_within=7d`.
    private static func duration(_ request: Request, _ name: String) throws -> TimeInterval? {
        guard let raw = request.uri.queryParameters[Substring(name)] else { return nil }
        guard let duration = DurationText(String(raw)) else {
            throw APIError.badRequest("\(name) must be a duration such as 7d, 12h or 90d.", field: name, code: "invalid_field")
        }
        return duration.timeInterval
    }

    /// The `{id}` path parameter; a string that cannot be a token ID is simply not found.
    private static func tokenID(_ context: AppRequestContext) throws -> TokenID {
        guard let raw = context.parameters.get("id"), let id = TokenID(raw) else { throw APIError.notFound("Token") }
        return id
    }

    private func notFoundAsToken<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch StoreError.notFound {
            throw APIError.notFound("Token")
        }
    }

    /// Responses holding a secret must never be cached.
    private static func secretHeaders(location: String?) -> HTTPFields {
        var headers: HTTPFields = [.cacheControl: "no-store", .pragma: "no-cache"]
        if let location { headers[.location] = location }
        return headers
    }
}
