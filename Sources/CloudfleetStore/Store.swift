import CloudfleetCore
import Foundation

/// Persistent state of the service. Every method is atomic: it either happens whole or not at all, and a
/// method that takes an audit event writes it in the same transaction as the change.
///
/// Contract shared by every backend (and checked by `CloudfleetStoreConformance`):
/// - getters return `nil` for a missing record; changes to a missing record throw ``StoreError/notFound``;
/// - token operations scoped by organization treat a token of another organization as missing;
/// - creating a record whose identity exists throws ``StoreError/alreadyExists``; token IDs collide also when
///   equal after lower-casing;
/// - dates round-trip to the microsecond;
/// - lists are keyset-paginated and stable under concurrent inserts.
public protocol Store: Sendable {
    /// Brings the schema up to date; safe to call on every start.
    func migrate() async throws
    /// Succeeds when the database answers a trivial query.
    func ping() async throws
    /// Releases connections. The store is unusable afterwards.
    func close() async throws

    // MARK: Organizations

    /// Creates an organization and records `audit`.
    func createOrganization(_ organization: Organization, audit: AuditEvent) async throws
    /// The organization with `id`, or `nil`.
    func organization(id: OrganizationID) async throws -> Organization?
    /// Replaces the token policy of an organization, records `audit`, and returns the organization as it is now.
    func updateOrganizationPolicy(id: OrganizationID, policy: TokenPolicy, audit: AuditEvent) async throws -> Organization
    /// Up to `limit` organizations, oldest first.
    func listOrganizations(limit: Int) async throws -> [Organization]
    /// The number of organizations, used to detect the very first start.
    func organizationCount() async throws -> Int

    // MARK: Tokens

    /// Stores a new token and records `audit`.
    func createToken(_ token: APIToken, audit: AuditEvent) async throws
    /// The token with `id` in any organization, or `nil` (used by authentication).
    func token(id: TokenID) async throws -> APIToken?
    /// The token whose current secret, or previous secret still in its grace period record, has `digest`, in any
    /// organization (used to answer leak reports).
    func token(secretDigest digest: SecretDigest) async throws -> APIToken?
    /// Tokens of `organization` that pass `filter`, after `cursor`, oldest first, at most `limit`.
    func listTokens(organization: OrganizationID, filter: TokenFilter, after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    /// The number of tokens of each role, over all organizations (for metrics).
    func tokenCountsByRole() async throws -> [Role: Int]
    /// The number of tokens of `organization`.
    func tokenCount(organization: OrganizationID) async throws -> Int
    /// Applies `change` to a token of `organization`, sets `updatedAt` to `at`, records `audit`, and returns
    /// the token as it is now.
    func updateToken(id: TokenID, organization: OrganizationID, change: TokenChange, at: Date, audit: AuditEvent)
        async throws -> APIToken
    /// Replaces the secret digest of a token of `organization`, increments its generation, records `audit`,
    /// and returns the token as it is now. With `previousValidUntil` the replaced secret becomes the token's
    /// ``PreviousSecret`` until then; without it, any previous secret is dropped. `secretLastUsedAt` starts empty.
    func replaceSecret(
        id: TokenID, organization: OrganizationID, digest: SecretDigest, previousValidUntil: Date?, at: Date, audit: AuditEvent
    ) async throws -> APIToken
    /// Revokes a leaked secret of token `id` in one transaction: if `leaked` is the current secret's digest, the
    /// digest becomes `replacement` (a secret nobody knows), the generation grows by one and any previous secret
    /// is dropped; if it is the previous secret's, the previous secret is dropped. Records `audit` and returns the
    /// token as it is now; throws ``StoreError/notFound`` when neither matches.
    func revokeLeakedSecret(id: TokenID, leaked: SecretDigest, replacement: SecretDigest, at: Date, audit: AuditEvent)
        async throws -> APIToken
    /// Deletes a token of `organization` and records `audit`.
    func deleteToken(id: TokenID, organization: OrganizationID, audit: AuditEvent) async throws
    /// Records last-use facts in one batch; usages of tokens that no longer exist are ignored, and an older
    /// usage never overwrites a newer one. A usage of the current secret also sets `secretLastUsedAt`; a usage
    /// of the previous secret sets the previous secret's `lastUsedAt` (if it is still recorded) besides the
    /// token's `lastUsed*`.
    func recordUsage(_ usages: [TokenUsage]) async throws

    // MARK: Clusters

    /// Stores a new cluster and records `audit`; a cluster of the same name in the organization throws
    /// ``StoreError/alreadyExists``.
    func createCluster(_ cluster: Cluster, audit: AuditEvent) async throws
    /// The cluster with `id` in any organization, or `nil` (used by the webhook and the cluster-token exchange).
    func cluster(id: ClusterID) async throws -> Cluster?
    /// Clusters of `organization` after `cursor`, oldest first, at most `limit`.
    func listClusters(organization: OrganizationID, after cursor: ClusterCursor?, limit: Int) async throws
        -> Page<Cluster, ClusterCursor>
    /// Deletes a cluster of `organization` and records `audit`.
    func deleteCluster(id: ClusterID, organization: OrganizationID, audit: AuditEvent) async throws
    /// Replaces the webhook credential digest of a cluster of `organization`, sets `updatedAt` to `at`, records
    /// `audit`, and returns the cluster as it is now.
    func replaceWebhookCredential(id: ClusterID, organization: OrganizationID, digest: SecretDigest, at: Date, audit: AuditEvent)
        async throws -> Cluster

    // MARK: Users and console sessions

    /// Stores a new user and records `audit`; an email address (or SSO subject) already held by a user of any
    /// organization throws ``StoreError/alreadyExists``.
    func createUser(_ user: User, audit: AuditEvent) async throws
    /// The user with `id` in any organization, or `nil`.
    func user(id: UserID) async throws -> User?
    /// The user with `email` in any organization, or `nil`.
    func user(email: EmailAddress) async throws -> User?
    /// The user bound to SSO subject `ssoSubject` in any organization, or `nil`.
    func user(ssoSubject: String) async throws -> User?
    /// Users of `organization` after `cursor`, by email address then ID, at most `limit`.
    func listUsers(organization: OrganizationID, after cursor: UserCursor?, limit: Int) async throws -> Page<User, UserCursor>
    /// The number of users of `organization` holding `role`.
    func userCount(organization: OrganizationID, role: Role) async throws -> Int
    /// Sets the role of a user of `organization`, sets `updatedAt` to `at`, records `audit`, and returns the user
    /// as it is now.
    func updateUserRole(id: UserID, organization: OrganizationID, role: Role, at: Date, audit: AuditEvent) async throws -> User
    /// Binds SSO subject `subject` to user `id` if it has none yet (doing nothing if it has this one) and returns
    /// the user as it is now. Throws ``StoreError/alreadyExists`` when the user has another subject or another
    /// user has this one, ``StoreError/notFound`` when there is no such user.
    func bindSSOSubject(id: UserID, subject: String, at: Date) async throws -> User
    /// Deletes a user of `organization` with all its sessions and sign-in links, and records `audit`.
    func deleteUser(id: UserID, organization: OrganizationID, audit: AuditEvent) async throws

    /// Stores a new session, sets the user's `lastSignInAt` to the session's `createdAt`, and records `audit`,
    /// in one transaction. Throws ``StoreError/notFound`` if the user no longer exists.
    func createSession(_ session: ConsoleSession, audit: AuditEvent) async throws
    /// The session whose secret has `digest`, or `nil`; expired sessions are returned too (the caller checks).
    func session(digest: SecretDigest) async throws -> ConsoleSession?
    /// Deletes the session whose secret has `digest` (sign-out) and records `audit`; throws
    /// ``StoreError/notFound`` if there is none.
    func deleteSession(digest: SecretDigest, audit: AuditEvent) async throws
    /// Deletes sessions and sign-in links that expired before `instant`; returns how many records went.
    func deleteExpiredConsoleRecords(before instant: Date) async throws -> Int

    /// Stores a new sign-in link and records `audit`.
    func createSignInLink(_ link: SignInLink, audit: AuditEvent) async throws
    /// The sign-in link whose secret has `digest`, used or not, or `nil` (to tell a person why it fails).
    func signInLink(digest: SecretDigest) async throws -> SignInLink?
    /// Marks the sign-in link whose secret has `digest` used at `at` and returns it, atomically and only if it
    /// is unused and `at` is before its expiry; otherwise returns `nil` and changes nothing. Of two concurrent
    /// calls at most one gets the link.
    func consumeSignInLink(digest: SecretDigest, at: Date) async throws -> SignInLink?

    // MARK: Audit

    /// Audit events of `organization` that pass `filter`, newest first, after `cursor`, at most `limit`.
    func listAuditEvents(organization: OrganizationID, filter: AuditFilter, after cursor: AuditCursor?, limit: Int) async throws
        -> Page<AuditEvent, AuditCursor>
    /// Records an audit event that goes with no change (a refused authentication).
    func recordAuditEvent(_ event: AuditEvent) async throws

    // MARK: Service credentials

    /// Stores a service credential.
    func createServiceCredential(_ credential: ServiceCredentialRecord) async throws
    /// Every service credential, oldest first.
    func serviceCredentials() async throws -> [ServiceCredentialRecord]
    /// Deletes a service credential; throws ``StoreError/notFound`` if there is none with `id`.
    func deleteServiceCredential(id: UUID) async throws

    // MARK: Signing keys

    /// Every stored signing key, newest first.
    func signingKeys() async throws -> [SigningKeyRecord]
    /// Stores a new signing key.
    func addSigningKey(_ key: SigningKeyRecord) async throws
    /// Stores `key` and marks every other key that still signs as retired at `key.createdAt`, in one
    /// transaction; other nodes hear of it through their ``ChangeFeed``.
    func rotateSigningKey(to key: SigningKeyRecord) async throws
}

extension Store {
    /// Tokens of `organization` after `cursor`, unfiltered.
    public func listTokens(organization: OrganizationID, after cursor: TokenCursor?, limit: Int) async throws -> Page<APIToken, TokenCursor> {
        try await listTokens(organization: organization, filter: TokenFilter(), after: cursor, limit: limit)
    }

    /// The whole audit trail of `organization` after `cursor`.
    public func listAuditEvents(organization: OrganizationID, after cursor: AuditCursor?, limit: Int) async throws
        -> Page<AuditEvent, AuditCursor>
    {
        try await listAuditEvents(organization: organization, filter: AuditFilter(), after: cursor, limit: limit)
    }
}
