import CloudfleetCore
import Foundation
import SQLiteNIO
import Testing

@testable import CloudfleetStoreSQLite

/// Upgrading a database written by an earlier release keeps what it holds right.
@Suite struct SQLiteUpgradeTests {
    /// Writes, at `path`, the schema of the release before migration `version` and, as that release wrote them, the
    /// organizations and a token of each given role in them.
    private static func writeRelease(before version: Int, at path: String, organizations: [OrganizationID], tokens: [(OrganizationID, Role)])
        async throws
    {
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        _ = try await connection.query(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        for migration in SQLiteMigrations.all where migration.version < version {
            for statement in migration.statements { _ = try await connection.query(statement) }
            _ = try await connection.query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
                [.integer(migration.version), .text(migration.name)])
        }
        for organization in organizations {
            _ = try await connection.query(
                "INSERT INTO organizations (id, name, created_at) VALUES (?, 'Org', 0)", [.text(organization.description)])
        }
        for (organization, role) in tokens {
            let id = TokenID.generate().rawValue
            _ = try await connection.query(
                """
                INSERT INTO api_tokens (id, id_lower, organization_id, name, role, secret_digest, secret_generation,
                    created_at, updated_at, secret_rotated_at, created_by)
                VALUES (?, ?, ?, 'old', ?, 'hmac-sha256-v1$AA', 1, 0, 0, 0, 'test')
                """, [.text(id), .text(id.lowercased()), .text(organization.description), .text(role.rawValue)])
        }
        try await connection.close()
    }

    private static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cf-upgrade-\(UUID().uuidString).sqlite").path
    }

    private static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Migration 5 fills the per-organization token counts from the tokens already stored.
    @Test func theTokenCountsStartFromTheStoredTokens() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let busy = OrganizationID(UUID()), quiet = OrganizationID(UUID()), empty = OrganizationID(UUID())
        try await Self.writeRelease(
            before: 5, at: path, organizations: [busy, quiet, empty], tokens: [(busy, .user), (busy, .user), (busy, .user), (quiet, .user)])

        let store = try await SQLiteStore.open(path: path)
        try await store.migrate()
        #expect(try await store.tokenCount(organization: busy) == 3)
        #expect(try await store.tokenCount(organization: quiet) == 1)
        #expect(try await store.tokenCount(organization: empty) == 0)
        try await store.close()
    }

    /// Migration 6 fills the per-role token counts from the tokens already stored, and keeps them from then on.
    @Test func theRoleCountsStartFromTheStoredTokens() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let acme = OrganizationID(UUID()), other = OrganizationID(UUID())
        try await Self.writeRelease(
            before: 6, at: path, organizations: [acme, other],
            tokens: [(acme, .administrator), (acme, .user), (acme, .user), (other, .administrator), (other, .user)])
        // Migration 5 is in place: its counts come along unchanged.
        let store = try await SQLiteStore.open(path: path)
        try await store.migrate()
        #expect(try await store.tokenCountsByRole() == [.administrator: 2, .user: 3])
        #expect(try await store.tokenCount(organization: acme) == 3)
        try await store.close()
    }
}
