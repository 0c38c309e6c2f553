import CloudfleetCore
import CloudfleetStore
import Foundation
import Synchronization

/// A store that forwards to another and counts token look-ups, to prove authentication hits the cache.
final class CountingStore: Store {
    let base: any Store
    private let lookups = Atomic<Int>(0)

    init(_ base: any Store) { self.base = base }

    var tokenLookups: Int { lookups.load(ordering: .relaxed) }

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
    func listOrganizations(limit: Int) async throws -> [Organization] { try await base.listOrganizations(limit: limit) }
    func organizationCount() async throws -> Int { try await base.organizationCount() }
    func createToken(_ token: APIToken, audit: AuditEvent) async throws { try await base.createToken(token, audit: audit) }
    func listTokens(organization: OrganizationID, after cursor: TokenCursor?, limit: Int) async throws -> Page<APIToken, TokenCursor> {
        try await base.listTokens(organization: organization, after: cursor, limit: limit)
    }
    func tokenCount(organization: OrganizationID) async throws -> Int { try await base.tokenCount(organization: organization) }
    func updateToken(id: TokenID, organization: OrganizationID, change: TokenChange, at: Date, audit: AuditEvent) async throws -> APIToken {
        try await base.updateToken(id: id, organization: organization, change: change, at: at, audit: audit)
    }
    func replaceSecret(id: TokenID, organization: OrganizationID, digest: SecretDigest, at: Date, audit: AuditEvent) async throws
        -> APIToken
    {
        try await base.replaceSecret(id: id, organization: organization, digest: digest, at: at, audit: audit)
    }
    func deleteToken(id: TokenID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await base.deleteToken(id: id, organization: organization, audit: audit)
    }
    func recordUsage(_ usages: [TokenUsage]) async throws { try await base.recordUsage(usages) }
    func createCluster(_ cluster: Cluster, audit: AuditEvent) async throws { try await base.createCluster(cluster, audit: audit) }
    func cluster(id: ClusterID) async throws -> Cluster? { try await base.cluster(id: id) }
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
    func listAuditEvents(organization: OrganizationID, after cursor: AuditCursor?, limit: Int) async throws -> Page<AuditEvent, AuditCursor> {
        try await base.listAuditEvents(organization: organization, after: cursor, limit: limit)
    }
    func signingKeys() async throws -> [SigningKeyRecord] { try await base.signingKeys() }
    func addSigningKey(_ key: SigningKeyRecord) async throws { try await base.addSigningKey(key) }
    func rotateSigningKey(to key: SigningKeyRecord) async throws { try await base.rotateSigningKey(to: key) }
}
