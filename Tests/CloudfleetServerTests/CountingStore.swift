import CloudfleetCore
import CloudfleetStore
import Foundation
import Synchronization

/// A store that forwards to another and counts token and cluster look-ups, to prove the caches are used.
final class CountingStore: Store {
    let base: any Store
    private let lookups = Atomic<Int>(0)
    private let clusterReads = Atomic<Int>(0)
    /// Every cluster read waits here after reading, before it answers: a test can hold reads in flight.
    let clusterGate = Gate()

    init(_ base: any Store) { self.base = base }

    var tokenLookups: Int { lookups.load(ordering: .relaxed) }
    var clusterLookups: Int { clusterReads.load(ordering: .relaxed) }

    func token(id: TokenID) async throws -> APIToken? {
        lookups.add(1, ordering: .relaxed)
        return try await base.token(id: id)
    }

    func migrate() async throws { try await base.migrate() }
    func ping() async throws { try await base.ping() }
    func close() async throws { try await base.close() }
    func createOrganization(_ organization: Organization, audit: AuditEvent) async throws {
        try await base.createOrganization(organization, audit: audit)
    }
    func organization(id: OrganizationID) async throws -> Organization? { try await base.organization(id: id) }
    func updateOrganizationPolicy(id: OrganizationID, policy: TokenPolicy, audit: AuditEvent) async throws -> Organization {
        try await base.updateOrganizationPolicy(id: id, policy: policy, audit: audit)
    }
    func listOrganizations(limit: Int) async throws -> [Organization] { try await base.listOrganizations(limit: limit) }
    func organizationCount() async throws -> Int { try await base.organizationCount() }
    func createToken(_ token: APIToken, audit: AuditEvent) async throws { try await base.createToken(token, audit: audit) }
    func token(secretDigest digest: SecretDigest) async throws -> APIToken? { try await base.token(secretDigest: digest) }
    func listTokens(organization: OrganizationID, filter: TokenFilter, after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    {
        try await base.listTokens(organization: organization, filter: filter, after: cursor, limit: limit)
    }
    func tokenCountsByRole() async throws -> [Role: Int] { try await base.tokenCountsByRole() }
    func tokenCount(organization: OrganizationID) async throws -> Int { try await base.tokenCount(organization: organization) }
    func updateToken(id: TokenID, organization: OrganizationID, change: TokenChange, at: Date, audit: AuditEvent) async throws -> APIToken {
        try await base.updateToken(id: id, organization: organization, change: change, at: at, audit: audit)
    }
    func replaceSecret(
        id: TokenID, organization: OrganizationID, digest: SecretDigest, previousValidUntil: Date?, at: Date, audit: AuditEvent
    ) async throws -> APIToken {
        try await base.replaceSecret(
            id: id, organization: organization, digest: digest, previousValidUntil: previousValidUntil, at: at, audit: audit)
    }
    func revokeLeakedSecret(id: TokenID, leaked: SecretDigest, replacement: SecretDigest, at: Date, audit: AuditEvent) async throws
        -> APIToken
    {
        try await base.revokeLeakedSecret(id: id, leaked: leaked, replacement: replacement, at: at, audit: audit)
    }
    func deleteToken(id: TokenID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await base.deleteToken(id: id, organization: organization, audit: audit)
    }
    func recordUsage(_ usages: [TokenUsage]) async throws { try await base.recordUsage(usages) }
    func createCluster(_ cluster: Cluster, audit: AuditEvent) async throws { try await base.createCluster(cluster, audit: audit) }
    func cluster(id: ClusterID) async throws -> Cluster? {
        clusterReads.add(1, ordering: .relaxed)
        let cluster = try await base.cluster(id: id)
        await clusterGate.pass()
        return cluster
    }
    func listClusters(organization: OrganizationID, after cursor: ClusterCursor?, limit: Int) async throws -> Page<Cluster, ClusterCursor> {
        try await base.listClusters(organization: organization, after: cursor, limit: limit)
    }
    func deleteCluster(id: ClusterID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await base.deleteCluster(id: id, organization: organization, audit: audit)
    }
    func replaceWebhookCredential(id: ClusterID, organization: OrganizationID, digest: SecretDigest, at: Date, audit: AuditEvent)
        async throws -> Cluster
    {
        try await base.replaceWebhookCredential(id: id, organization: organization, digest: digest, at: at, audit: audit)
    }
    func createUser(_ user: User, audit: AuditEvent) async throws { try await base.createUser(user, audit: audit) }
    func user(id: UserID) async throws -> User? { try await base.user(id: id) }
    func user(email: EmailAddress) async throws -> User? { try await base.user(email: email) }
    func user(ssoSubject: String) async throws -> User? { try await base.user(ssoSubject: ssoSubject) }
    func listUsers(organization: OrganizationID, after cursor: UserCursor?, limit: Int) async throws -> Page<User, UserCursor> {
        try await base.listUsers(organization: organization, after: cursor, limit: limit)
    }
    func userCount(organization: OrganizationID, role: Role) async throws -> Int { try await base.userCount(organization: organization, role: role) }
    func updateUserRole(id: UserID, organization: OrganizationID, role: Role, at: Date, audit: AuditEvent) async throws -> User {
        try await base.updateUserRole(id: id, organization: organization, role: role, at: at, audit: audit)
    }
    func bindSSOSubject(id: UserID, subject: String, at: Date) async throws -> User {
        try await base.bindSSOSubject(id: id, subject: subject, at: at)
    }
    func deleteUser(id: UserID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await base.deleteUser(id: id, organization: organization, audit: audit)
    }
    func createSession(_ session: ConsoleSession, audit: AuditEvent) async throws { try await base.createSession(session, audit: audit) }
    func session(digest: SecretDigest) async throws -> ConsoleSession? { try await base.session(digest: digest) }
    func deleteSession(digest: SecretDigest, audit: AuditEvent) async throws { try await base.deleteSession(digest: digest, audit: audit) }
    func deleteExpiredConsoleRecords(before instant: Date) async throws -> Int { try await base.deleteExpiredConsoleRecords(before: instant) }
    func createSignInLink(_ link: SignInLink, audit: AuditEvent) async throws { try await base.createSignInLink(link, audit: audit) }
    func signInLink(digest: SecretDigest) async throws -> SignInLink? { try await base.signInLink(digest: digest) }
    func consumeSignInLink(digest: SecretDigest, at: Date) async throws -> SignInLink? {
        try await base.consumeSignInLink(digest: digest, at: at)
    }
    func listAuditEvents(organization: OrganizationID, filter: AuditFilter, after cursor: AuditCursor?, limit: Int) async throws
        -> Page<AuditEvent, AuditCursor>
    {
        try await base.listAuditEvents(organization: organization, filter: filter, after: cursor, limit: limit)
    }
    func recordAuditEvent(_ event: AuditEvent) async throws { try await base.recordAuditEvent(event) }
    func createServiceCredential(_ credential: ServiceCredentialRecord) async throws {
        try await base.createServiceCredential(credential)
    }
    func serviceCredentials() async throws -> [ServiceCredentialRecord] { try await base.serviceCredentials() }
    func deleteServiceCredential(id: UUID) async throws { try await base.deleteServiceCredential(id: id) }
    func signingKeys() async throws -> [SigningKeyRecord] { try await base.signingKeys() }
    func addSigningKey(_ key: SigningKeyRecord) async throws { try await base.addSigningKey(key) }
    func rotateSigningKey(to key: SigningKeyRecord) async throws { try await base.rotateSigningKey(to: key) }
}

/// Open by default; while closed, callers of ``pass()`` wait until it opens.
final class Gate: Sendable {
    private struct State {
        var open = true
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func close() { state.withLock { $0.open = false } }

    func open() {
        let waiting = state.withLock { state in
            state.open = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func pass() async {
        await withCheckedContinuation { continuation in
            let passes = state.withLock { state in
                if state.open { return true }
                state.waiting.append(continuation)
                return false
            }
            if passes { continuation.resume() }
        }
    }
}
