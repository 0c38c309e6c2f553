import CloudfleetCore
import Foundation
import SQLiteNIO
import Testing

@testable import CloudfleetStoreSQLite

/// Upgrading a database written by an earlier release keeps what it holds right.
@Suite struct SQLiteUpgradeTests {
    /// Migration 5 fills the per-organization token counts from the tokens already stored.
    @Test func theTokenCountsStartFromTheStoredTokens() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cf-upgrade-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let busy = OrganizationID(UUID()), quiet = OrganizationID(UUID()), empty = OrganizationID(UUID())

        // The schema and rows of the release before migration 5, written as that release wrote them.
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        _ = try await connection.query(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        for migration in SQLiteMigrations.all where migration.version < 5 {
            for statement in migration.statements { _ = try await connection.query(statement) }
            _ = try await connection.query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
                [.integer(migration.version), .text(migration.name)])
        }
        for organization in [busy, quiet, empty] {
            _ = try await connection.query(
                "INSERT INTO organizations (id, name, created_at) VALUES (?, 'Org', 0)", [.text(organization.description)])
        }
        for (organization, count) in [(busy, 3), (quiet, 1)] {
            for _ in 0..<count {
                let id = TokenID.generate().rawValue
                _ = try await connection.query(
                    """
                    INSERT INTO api_tokens (id, id_lower, organization_id, name, role, secret_digest, secret_generation,
                        created_at, updated_at, secret_rotated_at, created_by)
                    VALUES (?, ?, ?, 'old', 'User', 'hmac-sha256-v1$AA', 1, 0, 0, 0, 'test')
                    """, [.text(id), .text(id.lowercased()), .text(organization.description)])
            }
        }
        try await connection.close()

        let store = try await SQLiteStore.open(path: path)
        try await store.migrate()
        #expect(try await store.tokenCount(organization: busy) == 3)
        #expect(try await store.tokenCount(organization: quiet) == 1)
        #expect(try await store.tokenCount(organization: empty) == 0)
        try await store.close()
    }
}
