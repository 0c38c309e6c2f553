import CloudfleetCore
import CloudfleetStore
import Foundation

/// The API-token lifecycle: create, read, update, regenerate, delete. Every change writes its audit event in
/// the same transaction and invalidates the verification cache before returning, so the old state stops
/// working when the call returns. Used by the HTTP API and by `cloudfleet-server admin`.
public struct TokenService: Sendable {
    let store: any Store
    let hasher: SecretHasher
    let cache: VerificationCache
    let clock: @Sendable () -> Date

    /// A token just created or regenerated, with the only copy of its secret.
    public struct IssuedSecret: Sendable {
        public let token: APIToken
        public let secret: TokenSecret
    }

    /// Creates a token in `organization`.
    public func create(name: TokenName, role: Role, organization: OrganizationID, context: AuditContext) async throws
        -> IssuedSecret
    {
        let secret = TokenSecret.generate()
        let now = clock()
        // A collision of two random 131-bit IDs is practically impossible; retrying keeps it harmless anyway.
        for attempt in 1...3 {
            let token = APIToken(
                id: .generate(), organizationID: organization, name: name, role: role, secretDigest: hasher.digest(secret),
                createdAt: now, createdBy: context.actor)
            let audit = event(.tokenCreate, token.id, organization, context, details: ["name": name.rawValue, "role": role.rawValue])
            do {
                try await store.createToken(token, audit: audit)
                return IssuedSecret(token: token, secret: secret)
            } catch StoreError.alreadyExists where attempt < 3 {
                continue
            }
        }
        throw StoreError.alreadyExists
    }

    /// Applies `change` to a token of `organization`.
    public func update(_ id: TokenID, change: TokenChange, organization: OrganizationID, context: AuditContext)
        async throws -> APIToken
    {
        var details: [String: String] = [:]
        if let name = change.name { details["name"] = name.rawValue }
        if let role = change.role { details["role"] = role.rawValue }
        let token = try await store.updateToken(
            id: id, organization: organization, change: change, at: clock(),
            audit: event(.tokenUpdate, id, organization, context, details: details))
        cache.invalidate(id)
        return token
    }

    /// Replaces the secret of a token of `organization`; the old secret and every access token minted from it
    /// stop working when this returns.
    public func regenerate(_ id: TokenID, organization: OrganizationID, context: AuditContext) async throws -> IssuedSecret {
        let secret = TokenSecret.generate()
        let token = try await store.replaceSecret(
            id: id, organization: organization, digest: hasher.digest(secret), at: clock(),
            audit: event(.tokenRegenerate, id, organization, context))
        cache.invalidate(id)
        return IssuedSecret(token: token, secret: secret)
    }

    /// Deletes a token of `organization`; it stops working when this returns.
    public func delete(_ id: TokenID, organization: OrganizationID, context: AuditContext) async throws {
        try await store.deleteToken(id: id, organization: organization, audit: event(.tokenDelete, id, organization, context))
        cache.invalidate(id)
    }

    /// A token of `organization`, or `nil` (also for a token of another organization).
    public func get(_ id: TokenID, organization: OrganizationID) async throws -> APIToken? {
        guard let token = try await store.token(id: id), token.organizationID == organization else { return nil }
        return token
    }

    /// One page of the tokens of `organization`.
    public func list(organization: OrganizationID, after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    {
        try await store.listTokens(organization: organization, after: cursor, limit: limit)
    }

    private func event(
        _ action: AuditAction, _ id: TokenID, _ organization: OrganizationID, _ context: AuditContext,
        details: [String: String] = [:]
    ) -> AuditEvent {
        AuditEvent(
            organizationID: organization, occurredAt: clock(), actor: context.actor, action: action, targetType: "token",
            targetID: id.rawValue, sourceIP: context.sourceIP, requestID: context.requestID, details: details)
    }
}
