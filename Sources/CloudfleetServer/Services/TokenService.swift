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

    /// Creates a token in `organization`, optionally with an expiry and an IP fence, within the organization's
    /// token policy.
    public func create(
        name: TokenName, role: Role, expiresAt: Date? = nil, fence: IPFence? = nil, organization: OrganizationID, context: AuditContext
    ) async throws -> IssuedSecret {
        let secret = TokenSecret.generate()
        let now = clock()
        try await checkExpiry(expiresAt, organization: organization, now: now)
        // A collision of two random 131-bit IDs is practically impossible; retrying keeps it harmless anyway.
        for attempt in 1...3 {
            let token = APIToken(
                id: .generate(), organizationID: organization, name: name, role: role, secretDigest: hasher.digest(secret),
                createdAt: now, expiresAt: expiresAt, allowedCIDRs: fence?.entries ?? [], createdBy: context.actor)
            var details = ["name": name.rawValue, "role": role.rawValue]
            if let expiresAt { details["expires_at"] = expiresAt.formatted(.iso8601) }
            if let fence, !fence.networks.isEmpty { details["allowed_cidrs"] = fence.entries.joined(separator: ",") }
            let audit = event(.tokenCreate, token.id, organization, context, details: details)
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
        if let expiresAt = change.expiresAt {
            try await checkExpiry(expiresAt, organization: organization, now: clock())
            details["expires_at"] = expiresAt?.formatted(.iso8601) ?? "never"
        }
        if let cidrs = change.allowedCIDRs { details["allowed_cidrs"] = cidrs.isEmpty ? "any" : cidrs.joined(separator: ",") }
        let token = try await store.updateToken(
            id: id, organization: organization, change: change, at: clock(),
            audit: event(.tokenUpdate, id, organization, context, details: details))
        await invalidateAndWarm(id)
        return token
    }

    /// The longest grace period a regeneration may give the previous secret.
    public static let maximumGracePeriod: TimeInterval = 7 * 86_400

    /// Replaces the secret of a token of `organization`. Without a grace period the old secret and every access
    /// token minted from it stop working when this returns; with one they keep working until it ends (or until
    /// the previous secret is retired early, see ``SecretRotation``).
    public func regenerate(_ id: TokenID, gracePeriod: TimeInterval? = nil, organization: OrganizationID, context: AuditContext)
        async throws -> IssuedSecret
    {
        let secret = TokenSecret.generate()
        let now = clock()
        let validUntil = gracePeriod.map { now.addingTimeInterval($0) }
        var details: [String: String] = [:]
        if let gracePeriod { details["grace_period_seconds"] = String(Int(gracePeriod)) }
        let token = try await store.replaceSecret(
            id: id, organization: organization, digest: hasher.digest(secret), previousValidUntil: validUntil, at: now,
            audit: event(.tokenRegenerate, id, organization, context, details: details))
        await invalidateAndWarm(id)
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

    /// One page of the tokens of `organization` that pass `filter`.
    public func list(organization: OrganizationID, filter: TokenFilter = TokenFilter(), after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    {
        try await store.listTokens(organization: organization, filter: filter, after: cursor, limit: limit)
    }

    /// Revokes `secret` if it is the current or previous secret of a token, because a secret scanner reported it
    /// leaked. The token keeps its ID, name and role; its secret becomes one nobody knows, so an Administrator
    /// must regenerate it. Returns the token, or `nil` for a secret of no token (answered alike to the reporter).
    public func revokeLeaked(_ secret: TokenSecret, reporter: String, url: String?, context: AuditContext) async throws -> APIToken? {
        let digest = hasher.digest(secret)
        guard let token = try await store.token(secretDigest: digest) else { return nil }
        var details = ["reporter": reporter, "secret": token.secretDigest == digest ? "current" : "previous"]
        if let url { details["url"] = String(url.prefix(500)) }
        do {
            let revoked = try await store.revokeLeakedSecret(
                id: token.id, leaked: digest, replacement: hasher.digest(TokenSecret.generate()), at: clock(),
                audit: event(.tokenRevokeLeaked, token.id, token.organizationID, context, details: details))
            cache.invalidate(token.id)
            return revoked
        } catch StoreError.notFound {
            return nil  // Regenerated or deleted in the meantime: nothing left to revoke.
        }
    }

    /// Invalidates the cached state of `id`, then reads it again from the store through the cache's epoch-guarded
    /// fill (never from the change's own result, which a concurrent change may already have superseded). The
    /// holder's next request then needs no store read, which matters while its token ID is rate-limited.
    private func invalidateAndWarm(_ id: TokenID) async {
        cache.invalidate(id)
        let epoch = cache.lookup(id).epoch
        guard let token = try? await store.token(id: id) else { return }
        cache.fill(TokenVerificationState(token), epoch: epoch)
    }

    /// Checks an expiry against the clock and the organization's policy.
    private func checkExpiry(_ expiresAt: Date?, organization: OrganizationID, now: Date) async throws {
        if let expiresAt, expiresAt <= now {
            throw ValidationError(field: "expires_at", reason: "must be in the future")
        }
        guard let policy = try await store.organization(id: organization)?.policy else { return }
        if policy.requireExpiry, expiresAt == nil {
            throw ValidationError(field: "expires_at", reason: "is required by the organization's token policy")
        }
        if let maximum = policy.maximumLifetime, let expiresAt, expiresAt.timeIntervalSince(now) > maximum {
            throw ValidationError(
                field: "expires_at",
                reason: "may be at most \(DurationText(seconds: Int(maximum))) from now under the organization's token policy")
        }
        if let maximum = policy.maximumLifetime, expiresAt == nil {
            throw ValidationError(
                field: "expires_at", reason: "is required: the organization's token policy allows at most \(DurationText(seconds: Int(maximum)))")
        }
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
