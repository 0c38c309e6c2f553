import CloudfleetStorePostgres
import Foundation
import Logging
import PostgresNIO

/// A fresh database per test on the PostgreSQL server that `scripts/with-postgres` started
/// (`CLOUDFLEET_TEST_POSTGRES_URL`). Under CI the variable must be set; elsewhere the suites are skipped without it.
enum PostgresTestDatabase {
    static var url: String? { ProcessInfo.processInfo.environment["CLOUDFLEET_TEST_POSTGRES_URL"] }

    /// Whether the PostgreSQL suites run: a server is configured, or this is CI (where a missing one must fail).
    static var enabled: Bool { url != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "CLOUDFLEET_TEST_POSTGRES_URL is not set: run the tests through scripts/with-postgres" }
    }

    /// Runs `body` with a migrated store on a new, empty database, then drops the database. `options` may change
    /// the store's pool (its size, say).
    static func withFreshStore<T: Sendable>(
        options: (inout PostgresClient.Configuration.Options) -> Void = { _ in }, _ body: @Sendable (PostgresStore) async throws -> T
    ) async throws -> T {
        guard let url else { throw Missing() }
        let admin = try PostgresURL.configuration(url)
        let name = "cf_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try await withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        var configuration = admin
        configuration.database = name
        options(&configuration.options)
        let result: Result<T, any Error>
        do {
            result = .success(
                try await withClient(configuration) { client in
                    // Generous: the suites run in parallel on a small machine; the timeout is not under test here.
                    let store = PostgresStore(client: client, operationTimeout: .seconds(120))
                    try await store.migrate()
                    return try await body(store)
                })
        } catch {
            result = .failure(error)
        }
        try await withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
        }
        return try result.get()
    }

    /// Runs `body` with a running client on `configuration`, then shuts the client down.
    @discardableResult
    static func withClient<T: Sendable>(_ configuration: PostgresClient.Configuration, _ body: @Sendable (PostgresClient) async throws -> T)
        async throws -> T
    {
        let client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "test.postgres"))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
