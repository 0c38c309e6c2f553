import CloudfleetCore
import CloudfleetStore
import CloudfleetStorePostgres
import Foundation
import PostgresNIO
import Testing

/// The hot reads are prepared statements, prepared once per connection (`PreparedRead`): the database neither parses
/// nor plans them again on each call.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "needs CLOUDFLEET_TEST_POSTGRES_URL (scripts/with-postgres)"))
struct PostgresPreparedReadTests {
    /// The names of the statements prepared on the one connection of `store`'s pool.
    private static func prepared(_ store: PostgresStore) async throws -> Set<String> {
        var names: Set<String> = []
        for try await name in try await store.client.query("SELECT name FROM pg_prepared_statements").decode(String.self) {
            names.insert(name)
        }
        return names
    }

    /// An organization with a token and a cluster, stored.
    private static func records(in store: PostgresStore) async throws -> (Organization, APIToken, Cluster) {
        // Whole microseconds, the precision PostgreSQL keeps.
        let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
        let organization = Organization(id: .generate(), name: "Acme", createdAt: now)
        func audit(_ action: AuditAction, _ type: String, _ target: String) -> AuditEvent {
            AuditEvent(organizationID: organization.id, occurredAt: now, actor: "test", action: action, targetType: type, targetID: target)
        }
        try await store.createOrganization(organization, audit: audit(.organizationCreate, "organization", organization.id.description))
        let token = APIToken(
            id: .generate(), organizationID: organization.id, name: try TokenName("ci"), role: .user,
            secretDigest: SecretHasher(serverKey: ServerKey.generate()).digest(TokenSecret.generate()), createdAt: now, createdBy: "test")
        try await store.createToken(token, audit: audit(.tokenCreate, "token", token.id.rawValue))
        let cluster = Cluster(
            id: .generate(), organizationID: organization.id, name: try ClusterName("prod"), apiEndpoint: "https://k8s.example.com:6443",
            createdAt: now, createdBy: "test")
        try await store.createCluster(cluster, audit: audit(.clusterCreate, "cluster", cluster.id.description))
        return (organization, token, cluster)
    }

    @Test func hotReadsArePreparedOnceOnTheirConnection() async throws {
        try await PostgresTestDatabase.withFreshStore(options: { $0.maximumConnections = 1 }) { store in
            #expect(try await Self.prepared(store).isEmpty)
            let (organization, token, cluster) = try await Self.records(in: store)

            #expect(try await store.token(id: token.id)?.secretDigest == token.secretDigest)
            #expect(try await store.token(secretDigest: token.secretDigest)?.id == token.id)
            #expect(try await store.organization(id: organization.id)?.name == organization.name)
            #expect(try await store.tokenCount(organization: organization.id) == 1)
            #expect(try await store.cluster(id: cluster.id)?.name == cluster.name)
            #expect(
                try await Self.prepared(store) == [
                    "cloudfleet_token_by_id", "cloudfleet_token_by_secret_digest", "cloudfleet_organization_by_id",
                    "cloudfleet_token_count_by_organization", "cloudfleet_cluster_by_id",
                ])
            // Used again, not prepared again (PostgreSQL refuses a second PREPARE of one name on a connection).
            #expect(try await store.token(id: token.id)?.secretDigest == token.secretDigest)
            #expect(try await store.token(id: .generate()) == nil)
        }
    }

    /// Another node may migrate the schema while this one holds prepared reads: the reads name their columns, so a
    /// column added to their table leaves them valid.
    @Test func aPreparedReadOutlivesAColumnAddedToItsTable() async throws {
        try await PostgresTestDatabase.withFreshStore(options: { $0.maximumConnections = 1 }) { store in
            let (_, token, _) = try await Self.records(in: store)
            #expect(try await store.token(id: token.id)?.secretDigest == token.secretDigest)
            try await store.client.query("ALTER TABLE api_tokens ADD COLUMN added_by_a_later_release text")
            #expect(try await store.token(id: token.id)?.secretDigest == token.secretDigest)
            #expect(try await Self.prepared(store).contains("cloudfleet_token_by_id"))
        }
    }
}
