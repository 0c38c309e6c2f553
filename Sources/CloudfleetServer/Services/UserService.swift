import CloudfleetCore
import CloudfleetStore
import Foundation

/// The people of an organization: add, change role, remove, and the break-glass sign-in links. Every change
/// writes its audit event in the same transaction. Used by the console and by `cloudfleet-server admin`.
public struct UserService: Sendable {
    let store: any Store
    let hasher: SecretHasher
    let clock: @Sendable () -> Date

    /// The default and the longest validity of a break-glass sign-in link.
    public static let defaultLinkValidity: TimeInterval = 15 * 60
    public static let maximumLinkValidity: TimeInterval = 60 * 60

    /// Adds a person to `organization`.
    public func create(email: EmailAddress, role: Role, organization: OrganizationID, context: AuditContext) async throws -> User {
        let now = clock()
        let user = User(id: .generate(), organizationID: organization, email: email, role: role, createdAt: now, createdBy: context.actor)
        do {
            try await store.createUser(
                user,
                audit: event(.userCreate, user.id, organization, context, details: ["email": email.rawValue, "role": role.rawValue]))
        } catch StoreError.alreadyExists {
            throw APIError.conflict("A user with the email address \(email) exists already.")
        }
        return user
    }

    /// Changes the role of another person of `organization`; nobody changes their own role, so an organization
    /// keeps the Administrator who acts.
    public func changeRole(_ id: UserID, to role: Role, organization: OrganizationID, actingUser: UserID?, context: AuditContext)
        async throws -> User
    {
        if id == actingUser { throw APIError.conflict("You cannot change your own role; ask another Administrator.") }
        guard let user = try await get(id, organization: organization) else { throw StoreError.notFound }
        return try await store.updateUserRole(
            id: id, organization: organization, role: role, at: clock(),
            audit: event(
                .userUpdate, id, organization, context,
                details: ["email": user.email.rawValue, "role": role.rawValue, "previous_role": user.role.rawValue]))
    }

    /// Removes another person of `organization` and ends their sessions.
    public func delete(_ id: UserID, organization: OrganizationID, actingUser: UserID?, context: AuditContext) async throws {
        if id == actingUser { throw APIError.conflict("You cannot remove yourself; ask another Administrator.") }
        guard let user = try await get(id, organization: organization) else { throw StoreError.notFound }
        try await store.deleteUser(
            id: id, organization: organization, audit: event(.userDelete, id, organization, context, details: ["email": user.email.rawValue]))
    }

    /// A person of `organization`, or `nil` (also for a person of another organization).
    public func get(_ id: UserID, organization: OrganizationID) async throws -> User? {
        guard let user = try await store.user(id: id), user.organizationID == organization else { return nil }
        return user
    }

    /// The person with `email`, in any organization.
    public func find(email: EmailAddress) async throws -> User? {
        try await store.user(email: email)
    }

    /// One page of the people of `organization`.
    public func list(organization: OrganizationID, after cursor: UserCursor?, limit: Int) async throws -> Page<User, UserCursor> {
        try await store.listUsers(organization: organization, after: cursor, limit: limit)
    }

    /// Issues a single-use sign-in link for `user`, valid for `validity` seconds; the returned secret is the only
    /// copy.
    public func issueSignInLink(for user: User, validity: TimeInterval, context: AuditContext) async throws -> ConsoleSecret {
        guard validity > 0, validity <= Self.maximumLinkValidity else {
            throw ValidationError(field: "valid_for", reason: "must be between 1 second and \(DurationText(seconds: Int(Self.maximumLinkValidity)))")
        }
        let secret = ConsoleSecret.generate(.signInLink)
        let now = clock()
        let link = SignInLink(
            digest: hasher.digest(secret), userID: user.id, organizationID: user.organizationID, createdAt: now,
            expiresAt: now.addingTimeInterval(validity))
        try await store.createSignInLink(
            link,
            audit: event(
                .consoleSignInLinkIssue, user.id, user.organizationID, context,
                details: ["email": user.email.rawValue, "expires_at": link.expiresAt.formatted(.iso8601)]))
        return secret
    }

    private func event(
        _ action: AuditAction, _ id: UserID, _ organization: OrganizationID, _ context: AuditContext, details: [String: String] = [:]
    ) -> AuditEvent {
        AuditEvent(
            organizationID: organization, occurredAt: clock(), actor: context.actor, action: action, targetType: "user",
            targetID: id.description, sourceIP: context.sourceIP, requestID: context.requestID, details: details)
    }
}
