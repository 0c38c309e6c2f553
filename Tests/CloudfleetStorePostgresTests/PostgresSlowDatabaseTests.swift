import CloudfleetCore
import CloudfleetStore
import CloudfleetStorePostgres
import Foundation
import Logging
import PostgresNIO
import Testing

/// A database that is slow, not down: one operation that runs out of time answers `unavailable`, and the store keeps
/// serving the next ones instead of failing every request fast (what an overloaded node did under bench/run).
@Suite(.enabled(if: PostgresTestDatabase.enabled, "needs CLOUDFLEET_TEST_POSTGRES_URL (scripts/with-postgres)"))
struct PostgresSlowDatabaseTests {
    @Test func aTimedOutOperationDoesNotMakeTheStoreFailFast() async throws {
        guard let url = PostgresTestDatabase.url, var components = URLComponents(string: url) else { throw PostgresTestDatabase.Missing() }
        let admin = try PostgresURL.configuration(url)
        let name = "cf_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try await PostgresTestDatabase.withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        components.path = "/" + name
        var configuration = admin
        configuration.database = name
        let organization = Organization(id: .generate(), name: "Acme", createdAt: Date())
        // Set up with a generous deadline (the suites run in parallel on a small machine); only the store under test
        // has a short one, and only the locked read may run into it.
        try await PostgresTestDatabase.withClient(configuration) { client in
            let setup = PostgresStore(client: client, operationTimeout: .seconds(120))
            try await setup.migrate()
            try await setup.createOrganization(
                organization,
                audit: AuditEvent(
                    organizationID: organization.id, occurredAt: Date(), actor: "test", action: .organizationCreate,
                    targetType: "organization", targetID: organization.id.description))
        }
        // The production deadline: under the full suite, opening a connection alone took more than 3 s.
        let store = try PostgresStore.connect(
            url: try #require(components.string), logger: .init(label: "test.postgres"), operationTimeout: .seconds(10))
        let outcome: Result<Void, any Error>
        do {
            // Open a few connections first, so that the operations after the stuck read, and the store's own probe,
            // find an idle one instead of connecting on a busy machine.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try await store.token(id: .generate()) } }
                try await group.waitForAll()
            }
            try await PostgresTestDatabase.withClient(configuration) { client in
                let logger = Logger(label: "test.postgres")
                try await client.withConnection { locker in
                    // Another session holds the organizations table: reads of it wait past the store's deadline.
                    for try await _ in try await locker.query(PostgresQuery(unsafeSQL: "BEGIN"), logger: logger) {}
                    for try await _ in try await locker.query(
                        PostgresQuery(unsafeSQL: "LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"), logger: logger)
                    {}
                    await #expect(throws: StoreError.self) { try await store.organization(id: organization.id) }
                    // The database answers everything else: the very next operation is served, not refused at once.
                    #expect(try await store.token(id: .generate()) == nil)
                    for try await _ in try await locker.query(PostgresQuery(unsafeSQL: "ROLLBACK"), logger: logger) {}
                }
            }
            #expect(try await store.organization(id: organization.id)?.name == "Acme")
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try await store.close()
        try await PostgresTestDatabase.withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
        }
        try outcome.get()
    }
}
