import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import HTTPTypes
import Hummingbird

/// `/v1/tokens`: the API-token lifecycle of the documentation.
struct TokensController {
    let tokens: TokenService

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("tokens", use: list)
        group.post("tokens", use: create)
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
        let page = try await tokens.list(organization: organization, after: try pagination.tokenCursor(), limit: pagination.limit)
        return ListPage(items: page.items.map(Token.init), nextCursor: Pagination.encode(page.next))
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TokenWithSecret> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.createToken, in: organization)
        let body = try await RequestBody.decode(CreateTokenRequest.self, from: request, context: context)
        let name = try TokenName(body.name)
        let role = try parseRole(body.role)
        let issued = try await tokens.create(name: name, role: role, organization: organization, context: try context.auditContext())
        return EditedResponse(
            status: .created, headers: Self.secretHeaders(location: "/v1/tokens/\(issued.token.id)"),
            response: TokenWithSecret(issued))
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Token {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.readToken, in: organization)
        guard let token = try await tokens.get(try Self.tokenID(context), organization: organization) else {
            throw APIError.notFound("Token")
        }
        return Token(token)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Token {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.updateToken, in: organization)
        let id = try Self.tokenID(context)
        let body = try await RequestBody.decode(UpdateTokenRequest.self, from: request, context: context)
        let change = TokenChange(
            name: try body.name.map { name throws(ValidationError) in try TokenName(name) },
            role: try body.role.map { role throws(ValidationError) in try parseRole(role) })
        guard change.name != nil || change.role != nil else {
            throw APIError.badRequest("Give at least one of name and role.", code: "missing_field")
        }
        return Token(
            try await notFoundAsToken {
                try await tokens.update(id, change: change, organization: organization, context: try context.auditContext())
            })
    }

    @Sendable func regenerate(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TokenWithSecret> {
        let organization = try context.requirePrincipal().organizationID
        try context.authorize(.regenerateTokenSecret, in: organization)
        let id = try Self.tokenID(context)
        let issued = try await notFoundAsToken {
            try await tokens.regenerate(id, organization: organization, context: try context.auditContext())
        }
        return EditedResponse(status: .ok, headers: Self.secretHeaders(location: nil), response: TokenWithSecret(issued))
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
