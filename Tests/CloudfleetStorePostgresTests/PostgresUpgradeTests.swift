import CloudfleetCore
import CloudfleetStore
import Foundation
import PostgresNIO
import Testing

@testable import CloudfleetStorePostgres

/// Upgrading a database written by an earlier release keeps what it holds right.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "needs CLOUDFLEET_TEST_POSTGRES_URL (scripts/with-postgres)"))
struct PostgresUpgradeTests {
    /// Migrations 5 and 6 fill the kept counts (all tokens, and Administrators) from the tokens already stored.
    @Test func theKeptCountsStartFromTheStoredTokens() async throws {
        guard let url = PostgresTestDatabase.url else { throw PostgresTestDatabase.Missing() }
        let admin = try PostgresURL.configuration(url)
        let name = "cf_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try await PostgresTestDatabase.withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        var configuration = admin
        configuration.database = name
        let acme = UUID(), other = UUID(), empty = UUID()
        let outcome: Result<Void, any Error>
        do {
            try await PostgresTestDatabase.withClient(configuration) { client in
                // The schema and rows of the release before migration 5, written as that release wrote them.
                try await client.query(
                    "CREATE TABLE schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
                for migration in PostgresMigrations.all where migration.version < 5 {
                    for statement in migration.statements { try await client.query(statement) }
                    try await client.query(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), now())")
                }
                for organization in [acme, other, empty] {
                    try await client.query("INSERT INTO organizations (id, name, created_at) VALUES (\(organization), 'Org', now())")
                }
                for (organization, role) in [(acme, "Administrator"), (acme, "User"), (acme, "User"), (other, "Administrator"), (other, "User")] {
                    let id = TokenID.generate().rawValue
                    try await client.query(
                        """
                        INSERT INTO api_tokens (id, id_lower, organization_id, name, role, secret_digest, secret_generation,
                            created_at, updated_at, secret_rotated_at, created_by)
                        VALUES (\(id), \(id.lowercased()), \(organization), 'old', \(role), 'hmac-sha256-v1$AA', 1, now(), now(), now(), 'test')
                        """)
                }
                let store = PostgresStore(client: client, operationTimeout: .seconds(120))
                try await store.migrate()
                #expect(try await store.tokenCount(organization: OrganizationID(acme)) == 3)
                #expect(try await store.tokenCount(organization: OrganizationID(other)) == 2)
                #expect(try await store.tokenCount(organization: OrganizationID(empty)) == 0)
                #expect(try await store.tokenCountsByRole() == [.administrator: 2, .user: 3])
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try await PostgresTestDatabase.withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
        }
        try outcome.get()
    }
}
