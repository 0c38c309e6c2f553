import CloudfleetStoreConformance
import CloudfleetStorePostgres
import Testing

/// The shared store conformance suite on the PostgreSQL backend, each case on a fresh database.
@Suite(.enabled(if: PostgresTestDatabase.enabled, "needs CLOUDFLEET_TEST_POSTGRES_URL (scripts/with-postgres)"))
struct PostgresConformanceTests {
    @Test(arguments: StoreConformance.allCases)
    func conformance(_ testCase: StoreConformance) async throws {
        try await PostgresTestDatabase.withFreshStore { store in try await testCase.run(on: store) }
    }

    @Test func migrationsAreSafeWhenSeveralNodesStartAtOnce() async throws {
        try await PostgresTestDatabase.withFreshStore { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { try await store.migrate() } }
                try await group.waitForAll()
            }
            #expect(try await store.organizationCount() == 0)
        }
    }
}
