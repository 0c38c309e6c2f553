import CloudfleetCore
import CloudfleetStore
import Foundation
import Logging
import SQLiteNIO
import Synchronization

/// The embedded default store: one SQLite database file in WAL mode.
///
/// Writes go through one connection guarded by an ``AsyncLock``, each in a `BEGIN IMMEDIATE` transaction;
/// reads use separate connections, so a reader never sees a transaction in progress.
public final class SQLiteStore: Store {
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let nextReader = Atomic<Int>(0)
    private let writeLock = AsyncLock()

    /// Opens (creating if needed) the database at `path`. Call ``migrate()`` before use.
    public static func open(path: String, readerCount: Int = 2, logger: Logger = Logger(label: "cloudfleet.sqlite"))
        async throws -> SQLiteStore
    {
        // The database holds digests and sealed keys: readable by the owner only. SQLite gives the -wal and
        // -shm files the mode of the main file.
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        do {
            let writer = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            try await Self.configure(writer)
            _ = try await writer.query("PRAGMA journal_mode = WAL")
            var readers: [SQLiteConnection] = []
            for _ in 0..<max(1, readerCount) {
                let reader = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
                try await Self.configure(reader)
                readers.append(reader)
            }
            return SQLiteStore(writer: writer, readers: readers)
        } catch let error as SQLiteError {
            throw StoreError.unavailable("cannot open SQLite database at \(path): \(error.message)")
        }
    }

    private static func configure(_ connection: SQLiteConnection) async throws {
        _ = try await connection.query("PRAGMA busy_timeout = 5000")
        _ = try await connection.query("PRAGMA foreign_keys = ON")
        // FULL: a commit is on disk before the call returns, so no acknowledged write is lost.
        _ = try await connection.query("PRAGMA synchronous = FULL")
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection]) {
        self.writer = writer
        self.readers = readers
    }

    // MARK: Plumbing

    private var reader: SQLiteConnection {
        let index = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        return readers[index % readers.count]
    }

    /// Runs `body` in one write transaction; rolls back if it throws.
    private func transaction<T: Sendable>(_ body: @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await translatingErrors {
            try await writeLock.withLock {
                _ = try await writer.query("BEGIN IMMEDIATE")
                do {
                    let result = try await body(writer)
                    _ = try await writer.query("COMMIT")
                    return result
                } catch {
                    _ = try? await writer.query("ROLLBACK")
                    throw error
                }
            }
        }
    }

    private func read(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await translatingErrors { try await reader.query(sql, binds) }
    }

    private func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteError {
            switch error.reason {
            case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                throw StoreError.alreadyExists
            case .constraintForeignKeyFailed:
                throw StoreError.notFound
            case .corrupt, .notADatabase, .corruptIndex:
                throw StoreError.corrupt(error.message)
            default:
                throw StoreError.unavailable(error.message)
            }
        }
    }

    // MARK: Lifecycle

    public func migrate() async throws {
        try await translatingErrors {
            try await writeLock.withLock {
                _ = try await writer.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
                )
            }
        }
        let applied = Set(try await read("SELECT version FROM schema_migrations").compactMap { $0.column("version")?.integer })
        if let newest = applied.max(), newest > (SQLiteMigrations.all.map(\.version).max() ?? 0) {
            throw StoreError.corrupt("database schema version \(newest) is newer than this server understands")
        }
        for migration in SQLiteMigrations.all where !applied.contains(migration.version) {
            try await transaction { connection in
                for statement in migration.statements {
                    _ = try await connection.query(statement)
                }
                _ = try await connection.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.integer(migration.version), .text(migration.name), .integer(Int(Date().microseconds))]
                )
            }
        }
    }

    public func ping() async throws {
        _ = try await read("SELECT 1")
    }

    public func close() async throws {
        for connection in readers + [writer] {
            try? await connection.close()
        }
    }

    // MARK: Organizations

    private static let organizationColumns = "id, name, created_at, max_token_lifetime_seconds, require_expiry"

    public func createOrganization(_ organization: Organization, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "INSERT INTO organizations (\(Self.organizationColumns)) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(organization.id.description), .text(organization.name), organization.createdAt.sqlite,
                    organization.policy.maximumLifetime.map { .float($0) } ?? .null, .integer(organization.policy.requireExpiry ? 1 : 0),
                ]
            )
            try await Self.insert(audit, on: connection)
        }
    }

    public func organization(id: OrganizationID) async throws -> Organization? {
        try await read("SELECT \(Self.organizationColumns) FROM organizations WHERE id = ?", [.text(id.description)])
            .first.map(Self.organization(from:))
    }

    public func updateOrganizationPolicy(id: OrganizationID, policy: TokenPolicy, audit: AuditEvent) async throws -> Organization {
        try await transaction { connection in
            _ = try await connection.query(
                "UPDATE organizations SET max_token_lifetime_seconds = ?, require_expiry = ? WHERE id = ?",
                [policy.maximumLifetime.map { .float($0) } ?? .null, .integer(policy.requireExpiry ? 1 : 0), .text(id.description)]
            )
            guard try await Self.changedRows(on: connection) == 1,
                let row = try await connection.query(
                    "SELECT \(Self.organizationColumns) FROM organizations WHERE id = ?", [.text(id.description)]
                ).first
            else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection)
            return try Self.organization(from: row)
        }
    }

    public func listOrganizations(limit: Int) async throws -> [Organization] {
        try await read("SELECT \(Self.organizationColumns) FROM organizations ORDER BY created_at, id LIMIT ?", [.integer(max(1, limit))])
            .map(Self.organization(from:))
    }

    public func organizationCount() async throws -> Int {
        try await read("SELECT COUNT(*) AS n FROM organizations").first?.column("n")?.integer ?? 0
    }

    // MARK: Tokens

    private static let tokenColumns = """
        id, organization_id, name, role, secret_digest, secret_generation, created_at, updated_at,
        secret_rotated_at, last_used_at, last_used_ip, last_used_user_agent, secret_last_used_at, expires_at,
        allowed_cidrs, previous_secret_digest, previous_secret_generation, previous_secret_valid_until,
        previous_secret_last_used_at, created_by
        """

    public func createToken(_ token: APIToken, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                """
                INSERT INTO api_tokens (id_lower, \(Self.tokenColumns))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(token.id.lowercased), .text(token.id.rawValue), .text(token.organizationID.description),
                    .text(token.name.rawValue), .text(token.role.rawValue), .text(token.secretDigest.storageString),
                    .integer(token.secretGeneration), token.createdAt.sqlite, token.updatedAt.sqlite,
                    token.secretRotatedAt.sqlite, token.lastUsedAt.sqlite, token.lastUsedIP.sqlite,
                    token.lastUsedUserAgent.sqlite, token.secretLastUsedAt.sqlite, token.expiresAt.sqlite,
                    try Self.cidrs(token.allowedCIDRs), token.previousSecret.map { .text($0.digest.storageString) } ?? .null,
                    token.previousSecret.map { .integer($0.generation) } ?? .null, token.previousSecret?.validUntil.sqlite ?? .null,
                    token.previousSecret?.lastUsedAt.sqlite ?? .null, .text(token.createdBy),
                ]
            )
            try await Self.insert(audit, on: connection)
        }
    }

    public func token(id: TokenID) async throws -> APIToken? {
        try await read("SELECT \(Self.tokenColumns) FROM api_tokens WHERE id = ?", [.text(id.rawValue)])
            .first.map(Self.token(from:))
    }

    public func token(secretDigest digest: SecretDigest) async throws -> APIToken? {
        let stored = SQLiteData.text(digest.storageString)
        // Digests of random secrets never collide; should they, the current secret's token wins.
        return try await read(
            """
            SELECT \(Self.tokenColumns) FROM api_tokens WHERE secret_digest = ? OR previous_secret_digest = ?
            ORDER BY secret_digest = ? DESC, id LIMIT 1
            """,
            [stored, stored, stored]
        ).first.map(Self.token(from:))
    }

    public func listTokens(organization: OrganizationID, filter: TokenFilter, after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    {
        let limit = max(1, limit)
        var sql = "SELECT \(Self.tokenColumns) FROM api_tokens WHERE organization_id = ?"
        var binds: [SQLiteData] = [.text(organization.description)]
        if let expiringBefore = filter.expiringBefore {
            sql += " AND expires_at IS NOT NULL AND expires_at <= ?"
            binds.append(expiringBefore.sqlite)
            if let now = filter.now {
                sql += " AND expires_at > ?"
                binds.append(now.sqlite)
            }
        }
        if let unusedSince = filter.unusedSince {
            sql += " AND (last_used_at < ? OR (last_used_at IS NULL AND created_at < ?))"
            binds += [unusedSince.sqlite, unusedSince.sqlite]
        }
        if let cursor {
            sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"
            binds += [cursor.createdAt.sqlite, cursor.createdAt.sqlite, .text(cursor.id.rawValue)]
        }
        sql += " ORDER BY created_at, id LIMIT ?"
        binds.append(.integer(limit + 1))
        var tokens = try await read(sql, binds).map(Self.token(from:))
        var next: TokenCursor?
        if tokens.count > limit {
            tokens.removeLast()
            next = tokens.last.map { TokenCursor(createdAt: $0.createdAt, id: $0.id) }
        }
        return Page(items: tokens, next: next)
    }

    public func tokenCountsByRole() async throws -> [Role: Int] {
        // Kept by triggers (migrations 5 and 6): as cheap with a million tokens as with ten.
        let row = try await read(
            "SELECT COALESCE(SUM(n), 0) AS n, COALESCE(SUM(administrators), 0) AS administrators FROM token_counts"
        ).first
        return Role.counts(all: try row?.int("n") ?? 0, administrators: try row?.int("administrators") ?? 0)
    }

    public func tokenCount(organization: OrganizationID) async throws -> Int {
        // Kept by triggers (migration 5): constant time whatever the number of tokens.
        try await read("SELECT n FROM token_counts WHERE organization_id = ?", [.text(organization.description)])
            .first?.column("n")?.integer ?? 0
    }

    public func updateToken(id: TokenID, organization: OrganizationID, change: TokenChange, at: Date, audit: AuditEvent)
        async throws -> APIToken
    {
        try await transaction { connection in
            _ = try await connection.query(
                """
                UPDATE api_tokens SET name = COALESCE(?, name), role = COALESCE(?, role),
                    expires_at = CASE WHEN ? THEN ? ELSE expires_at END,
                    allowed_cidrs = CASE WHEN ? THEN ? ELSE allowed_cidrs END, updated_at = ?
                WHERE id = ? AND organization_id = ?
                """,
                [
                    change.name.map { .text($0.rawValue) } ?? .null, change.role.map { .text($0.rawValue) } ?? .null,
                    .integer(change.expiresAt == nil ? 0 : 1), change.expiresAt.flatMap { $0 }.sqlite,
                    .integer(change.allowedCIDRs == nil ? 0 : 1), try Self.cidrs(change.allowedCIDRs ?? []),
                    at.sqlite, .text(id.rawValue), .text(organization.description),
                ]
            )
            return try await Self.finishChange(id: id, audit: audit, on: connection)
        }
    }

    public func replaceSecret(
        id: TokenID, organization: OrganizationID, digest: SecretDigest, previousValidUntil: Date?, at: Date, audit: AuditEvent
    ) async throws -> APIToken {
        let keep = SQLiteData.integer(previousValidUntil == nil ? 0 : 1)
        return try await transaction { connection in
            // Every right-hand side reads the row as it was, so the replaced secret moves to the previous slot with
            // its own last use.
            _ = try await connection.query(
                """
                UPDATE api_tokens
                SET secret_digest = ?, secret_generation = secret_generation + 1, secret_rotated_at = ?, updated_at = ?,
                    secret_last_used_at = NULL,
                    previous_secret_digest = CASE WHEN ? THEN secret_digest END,
                    previous_secret_generation = CASE WHEN ? THEN secret_generation END,
                    previous_secret_valid_until = ?,
                    previous_secret_last_used_at = CASE WHEN ? THEN secret_last_used_at END
                WHERE id = ? AND organization_id = ?
                """,
                [
                    .text(digest.storageString), at.sqlite, at.sqlite, keep, keep, previousValidUntil.sqlite, keep,
                    .text(id.rawValue), .text(organization.description),
                ]
            )
            return try await Self.finishChange(id: id, audit: audit, on: connection)
        }
    }

    public func revokeLeakedSecret(id: TokenID, leaked: SecretDigest, replacement: SecretDigest, at: Date, audit: AuditEvent)
        async throws -> APIToken
    {
        try await transaction { connection in
            _ = try await connection.query(
                """
                UPDATE api_tokens
                SET secret_digest = ?, secret_generation = secret_generation + 1, secret_rotated_at = ?, updated_at = ?,
                    secret_last_used_at = NULL, \(Self.noPreviousSecret)
                WHERE id = ? AND secret_digest = ?
                """,
                [.text(replacement.storageString), at.sqlite, at.sqlite, .text(id.rawValue), .text(leaked.storageString)]
            )
            if try await Self.changedRows(on: connection) == 0 {
                _ = try await connection.query(
                    "UPDATE api_tokens SET updated_at = ?, \(Self.noPreviousSecret) WHERE id = ? AND previous_secret_digest = ?",
                    [at.sqlite, .text(id.rawValue), .text(leaked.storageString)]
                )
            }
            return try await Self.finishChange(id: id, audit: audit, on: connection)
        }
    }

    private static let noPreviousSecret = """
        previous_secret_digest = NULL, previous_secret_generation = NULL, previous_secret_valid_until = NULL,
        previous_secret_last_used_at = NULL
        """

    /// After an UPDATE: fails with `notFound` if it touched no row, else records the audit event and returns
    /// the row as it is now.
    private static func finishChange(id: TokenID, audit: AuditEvent, on connection: SQLiteConnection) async throws
        -> APIToken
    {
        guard try await changedRows(on: connection) == 1,
            let row = try await connection.query("SELECT \(tokenColumns) FROM api_tokens WHERE id = ?", [.text(id.rawValue)])
                .first
        else { throw StoreError.notFound }
        try await insert(audit, on: connection)
        return try token(from: row)
    }

    public func deleteToken(id: TokenID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "DELETE FROM api_tokens WHERE id = ? AND organization_id = ?",
                [.text(id.rawValue), .text(organization.description)]
            )
            guard try await Self.changedRows(on: connection) == 1 else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection)
        }
    }

    public func recordUsage(_ usages: [TokenUsage]) async throws {
        guard !usages.isEmpty else { return }
        try await transaction { connection in
            for usage in usages {
                let id = SQLiteData.text(usage.tokenID.rawValue)
                _ = try await connection.query(
                    """
                    UPDATE api_tokens SET last_used_at = ?, last_used_ip = ?, last_used_user_agent = ?
                    WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)
                    """,
                    [usage.at.sqlite, usage.sourceIP.sqlite, usage.userAgent.sqlite, id, usage.at.sqlite]
                )
                switch usage.slot {
                case .current:
                    _ = try await connection.query(
                        """
                        UPDATE api_tokens SET secret_last_used_at = ?
                        WHERE id = ? AND (secret_last_used_at IS NULL OR secret_last_used_at < ?)
                            AND secret_rotated_at <= ?
                        """,
                        // A use written behind that happened before the last rotation belongs to the old secret.
                        [usage.at.sqlite, id, usage.at.sqlite, usage.at.sqlite]
                    )
                case .previous:
                    _ = try await connection.query(
                        """
                        UPDATE api_tokens SET previous_secret_last_used_at = ?
                        WHERE id = ? AND previous_secret_digest IS NOT NULL
                            AND (previous_secret_last_used_at IS NULL OR previous_secret_last_used_at < ?)
                        """,
                        [usage.at.sqlite, id, usage.at.sqlite]
                    )
                }
            }
        }
    }

    private static func changedRows(on connection: SQLiteConnection) async throws -> Int {
        try await connection.query("SELECT changes() AS n").first?.column("n")?.integer ?? 0
    }

    // MARK: Clusters

    private static let clusterColumns = """
        id, organization_id, name, api_endpoint, ca_bundle, webhook_credential_digest, created_at, updated_at, created_by
        """

    public func createCluster(_ cluster: Cluster, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "INSERT INTO clusters (\(Self.clusterColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(cluster.id.description), .text(cluster.organizationID.description), .text(cluster.name.rawValue),
                    .text(cluster.apiEndpoint), cluster.caBundle.sqlite, cluster.webhookCredentialDigest.map(\.storageString).sqlite,
                    cluster.createdAt.sqlite, cluster.updatedAt.sqlite, .text(cluster.createdBy),
                ]
            )
            try await Self.insert(audit, on: connection)
        }
    }

    public func cluster(id: ClusterID) async throws -> Cluster? {
        try await read("SELECT \(Self.clusterColumns) FROM clusters WHERE id = ?", [.text(id.description)])
            .first.map(Self.cluster(from:))
    }

    public func listClusters(organization: OrganizationID, after cursor: ClusterCursor?, limit: Int) async throws
        -> Page<Cluster, ClusterCursor>
    {
        let limit = max(1, limit)
        var sql = "SELECT \(Self.clusterColumns) FROM clusters WHERE organization_id = ?"
        var binds: [SQLiteData] = [.text(organization.description)]
        if let cursor {
            sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"
            binds += [cursor.createdAt.sqlite, cursor.createdAt.sqlite, .text(cursor.id.description)]
        }
        sql += " ORDER BY created_at, id LIMIT ?"
        binds.append(.integer(limit + 1))
        var clusters = try await read(sql, binds).map(Self.cluster(from:))
        var next: ClusterCursor?
        if clusters.count > limit {
            clusters.removeLast()
            next = clusters.last.map { ClusterCursor(createdAt: $0.createdAt, id: $0.id) }
        }
        return Page(items: clusters, next: next)
    }

    public func deleteCluster(id: ClusterID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "DELETE FROM clusters WHERE id = ? AND organization_id = ?",
                [.text(id.description), .text(organization.description)]
            )
            guard try await Self.changedRows(on: connection) == 1 else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection)
        }
    }

    public func replaceWebhookCredential(
        id: ClusterID, organization: OrganizationID, digest: SecretDigest, at: Date, audit: AuditEvent
    ) async throws -> Cluster {
        try await transaction { connection in
            _ = try await connection.query(
                "UPDATE clusters SET webhook_credential_digest = ?, updated_at = ? WHERE id = ? AND organization_id = ?",
                [.text(digest.storageString), at.sqlite, .text(id.description), .text(organization.description)]
            )
            guard try await Self.changedRows(on: connection) == 1,
                let row = try await connection.query("SELECT \(Self.clusterColumns) FROM clusters WHERE id = ?", [.text(id.description)])
                    .first
            else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection)
            return try Self.cluster(from: row)
        }
    }

    // MARK: Users and console sessions

    private static let userColumns = """
        id, organization_id, email, role, sso_subject, created_at, updated_at, created_by, last_sign_in_at
        """

    public func createUser(_ user: User, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "INSERT INTO users (\(Self.userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(user.id.description), .text(user.organizationID.description), .text(user.email.rawValue),
                    .text(user.role.rawValue), user.ssoSubject.sqlite, user.createdAt.sqlite, user.updatedAt.sqlite,
                    .text(user.createdBy), user.lastSignInAt.sqlite,
                ]
            )
            try await Self.insert(audit, on: connection)
        }
    }

    public func user(id: UserID) async throws -> User? {
        try await read("SELECT \(Self.userColumns) FROM users WHERE id = ?", [.text(id.description)]).first.map(Self.user(from:))
    }

    public func user(email: EmailAddress) async throws -> User? {
        try await read("SELECT \(Self.userColumns) FROM users WHERE email = ?", [.text(email.rawValue)]).first.map(Self.user(from:))
    }

    public func user(ssoSubject: String) async throws -> User? {
        try await read("SELECT \(Self.userColumns) FROM users WHERE sso_subject = ?", [.text(ssoSubject)]).first.map(Self.user(from:))
    }

    public func listUsers(organization: OrganizationID, after cursor: UserCursor?, limit: Int) async throws -> Page<User, UserCursor> {
        let limit = max(1, limit)
        var sql = "SELECT \(Self.userColumns) FROM users WHERE organization_id = ?"
        var binds: [SQLiteData] = [.text(organization.description)]
        if let cursor {
            sql += " AND (email > ? OR (email = ? AND id > ?))"
            binds += [.text(cursor.email.rawValue), .text(cursor.email.rawValue), .text(cursor.id.description)]
        }
        sql += " ORDER BY email, id LIMIT ?"
        binds.append(.integer(limit + 1))
        var users = try await read(sql, binds).map(Self.user(from:))
        var next: UserCursor?
        if users.count > limit {
            users.removeLast()
            next = users.last.map { UserCursor(email: $0.email, id: $0.id) }
        }
        return Page(items: users, next: next)
    }

    public func userCount(organization: OrganizationID, role: Role) async throws -> Int {
        try await read(
            "SELECT COUNT(*) AS n FROM users WHERE organization_id = ? AND role = ?", [.text(organization.description), .text(role.rawValue)]
        ).first?.column("n")?.integer ?? 0
    }

    public func updateUserRole(id: UserID, organization: OrganizationID, role: Role, at: Date, audit: AuditEvent) async throws -> User {
        try await transaction { connection in
            _ = try await connection.query(
                "UPDATE users SET role = ?, updated_at = ? WHERE id = ? AND organization_id = ?",
                [.text(role.rawValue), at.sqlite, .text(id.description), .text(organization.description)]
            )
            guard try await Self.changedRows(on: connection) == 1, let user = try await Self.user(id: id, on: connection) else {
                throw StoreError.notFound
            }
            try await Self.insert(audit, on: connection)
            return user
        }
    }

    public func bindSSOSubject(id: UserID, subject: String, at: Date) async throws -> User {
        try await transaction { connection in
            // Only a user without a subject takes one; a subject held by another user fails the UNIQUE constraint.
            _ = try await connection.query(
                "UPDATE users SET sso_subject = ?, updated_at = ? WHERE id = ? AND sso_subject IS NULL",
                [.text(subject), at.sqlite, .text(id.description)]
            )
            guard let user = try await Self.user(id: id, on: connection) else { throw StoreError.notFound }
            guard user.ssoSubject == subject else { throw StoreError.alreadyExists }
            return user
        }
    }

    public func deleteUser(id: UserID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await transaction { connection in
            // Sessions and sign-in links go with the user: ON DELETE CASCADE, enforced as every connection turns
            // `foreign_keys` on.
            _ = try await connection.query(
                "DELETE FROM users WHERE id = ? AND organization_id = ?", [.text(id.description), .text(organization.description)])
            guard try await Self.changedRows(on: connection) == 1 else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection)
        }
    }

    private static func user(id: UserID, on connection: SQLiteConnection) async throws -> User? {
        try await connection.query("SELECT \(userColumns) FROM users WHERE id = ?", [.text(id.description)]).first.map(user(from:))
    }

    private static let sessionColumns = "digest, user_id, organization_id, created_at, expires_at, source_ip, method"

    public func createSession(_ session: ConsoleSession, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "UPDATE users SET last_sign_in_at = ? WHERE id = ? AND organization_id = ?",
                [session.createdAt.sqlite, .text(session.userID.description), .text(session.organizationID.description)]
            )
            guard try await Self.changedRows(on: connection) == 1 else { throw StoreError.notFound }
            _ = try await connection.query(
                "INSERT INTO console_sessions (\(Self.sessionColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(session.digest.storageString), .text(session.userID.description), .text(session.organizationID.description),
                    session.createdAt.sqlite, session.expiresAt.sqlite, session.sourceIP.sqlite, .text(session.method.rawValue),
                ]
            )
            try await Self.insert(audit, on: connection)
        }
    }

    public func session(digest: SecretDigest) async throws -> ConsoleSession? {
        try await read("SELECT \(Self.sessionColumns) FROM console_sessions WHERE digest = ?", [.text(digest.storageString)])
            .first.map(Self.session(from:))
    }

    public func deleteSession(digest: SecretDigest, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query("DELETE FROM console_sessions WHERE digest = ?", [.text(digest.storageString)])
            guard try await Self.changedRows(on: connection) == 1 else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection)
        }
    }

    public func deleteExpiredConsoleRecords(before instant: Date) async throws -> Int {
        try await transaction { connection in
            _ = try await connection.query("DELETE FROM console_sessions WHERE expires_at < ?", [instant.sqlite])
            let sessions = try await Self.changedRows(on: connection)
            _ = try await connection.query("DELETE FROM sign_in_links WHERE expires_at < ?", [instant.sqlite])
            return sessions + (try await Self.changedRows(on: connection))
        }
    }

    private static let signInLinkColumns = "digest, user_id, organization_id, created_at, expires_at, used_at"

    public func createSignInLink(_ link: SignInLink, audit: AuditEvent) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "INSERT INTO sign_in_links (\(Self.signInLinkColumns)) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(link.digest.storageString), .text(link.userID.description), .text(link.organizationID.description),
                    link.createdAt.sqlite, link.expiresAt.sqlite, link.usedAt.sqlite,
                ]
            )
            try await Self.insert(audit, on: connection)
        }
    }

    public func signInLink(digest: SecretDigest) async throws -> SignInLink? {
        try await read("SELECT \(Self.signInLinkColumns) FROM sign_in_links WHERE digest = ?", [.text(digest.storageString)])
            .first.map(Self.signInLink(from:))
    }

    public func consumeSignInLink(digest: SecretDigest, at: Date) async throws -> SignInLink? {
        try await transaction { connection in
            // One conditional UPDATE under the write lock: of two calls, the second finds `used_at` set.
            _ = try await connection.query(
                "UPDATE sign_in_links SET used_at = ? WHERE digest = ? AND used_at IS NULL AND expires_at > ?",
                [at.sqlite, .text(digest.storageString), at.sqlite]
            )
            guard try await Self.changedRows(on: connection) == 1 else { return nil }
            return try await connection.query(
                "SELECT \(Self.signInLinkColumns) FROM sign_in_links WHERE digest = ?", [.text(digest.storageString)]
            ).first.map(Self.signInLink(from:))
        }
    }

    // MARK: Audit

    private static func insert(_ event: AuditEvent, on connection: SQLiteConnection) async throws {
        let details = String(decoding: try JSONEncoder.sorted.encode(event.details), as: UTF8.self)
        _ = try await connection.query(
            """
            INSERT INTO audit_events (id, organization_id, occurred_at, actor, action, target_type, target_id,
                source_ip, request_id, outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(event.id.uuidString.lowercased()), .text(event.organizationID.description), event.occurredAt.sqlite,
                .text(event.actor), .text(event.action.rawValue), .text(event.targetType), .text(event.targetID),
                event.sourceIP.sqlite, event.requestID.sqlite, .text(event.outcome), .text(details),
            ]
        )
    }

    public func recordAuditEvent(_ event: AuditEvent) async throws {
        try await transaction { connection in try await Self.insert(event, on: connection) }
    }

    public func listAuditEvents(organization: OrganizationID, filter: AuditFilter, after cursor: AuditCursor?, limit: Int) async throws
        -> Page<AuditEvent, AuditCursor>
    {
        let limit = max(1, limit)
        var sql = """
            SELECT seq, id, organization_id, occurred_at, actor, action, target_type, target_id, source_ip, request_id,
                outcome, details FROM audit_events WHERE organization_id = ?
            """
        var binds: [SQLiteData] = [.text(organization.description)]
        if let actor = filter.actor {
            sql += " AND actor = ?"
            binds.append(.text(actor))
        }
        if let targetID = filter.targetID {
            sql += " AND target_id = ?"
            binds.append(.text(targetID))
        }
        if let action = filter.action {
            sql += " AND action = ?"
            binds.append(.text(action.rawValue))
        }
        if let since = filter.since {
            sql += " AND occurred_at >= ?"
            binds.append(since.sqlite)
        }
        if let until = filter.until {
            sql += " AND occurred_at < ?"
            binds.append(until.sqlite)
        }
        if let cursor {
            sql += " AND seq < ?"
            binds.append(.integer(Int(cursor.sequence)))
        }
        sql += " ORDER BY seq DESC LIMIT ?"
        binds.append(.integer(limit + 1))
        let rows = try await read(sql, binds)
        var events: [(Int64, AuditEvent)] = try rows.map { (Int64(try $0.int("seq")), try Self.auditEvent(from: $0)) }
        var next: AuditCursor?
        if events.count > limit {
            events.removeLast()
            next = events.last.map { AuditCursor(sequence: $0.0) }
        }
        return Page(items: events.map(\.1), next: next)
    }

    // MARK: Service credentials

    public func createServiceCredential(_ credential: ServiceCredentialRecord) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "INSERT INTO service_credentials (id, kind, name, digest, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(credential.id.uuidString.lowercased()), .text(credential.kind.rawValue), .text(credential.name),
                    .text(credential.digest.storageString), credential.createdAt.sqlite,
                ]
            )
        }
    }

    public func serviceCredentials() async throws -> [ServiceCredentialRecord] {
        try await read("SELECT id, kind, name, digest, created_at FROM service_credentials ORDER BY created_at, id").map { row in
            guard let id = UUID(uuidString: try row.text("id")), let kind = ServiceCredential.Kind(rawValue: try row.text("kind")),
                let digest = SecretDigest(storageString: try row.text("digest"))
            else { throw StoreError.corrupt("unreadable service credential") }
            return ServiceCredentialRecord(id: id, kind: kind, name: try row.text("name"), digest: digest, createdAt: try row.date("created_at"))
        }
    }

    public func deleteServiceCredential(id: UUID) async throws {
        try await transaction { connection in
            _ = try await connection.query("DELETE FROM service_credentials WHERE id = ?", [.text(id.uuidString.lowercased())])
            guard try await Self.changedRows(on: connection) == 1 else { throw StoreError.notFound }
        }
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [SigningKeyRecord] {
        try await read("SELECT kid, algorithm, sealed_private_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid")
            .map { row in
                guard case .blob(let buffer) = row.column("sealed_private_key") else {
                    throw StoreError.corrupt("signing key without key material")
                }
                return SigningKeyRecord(
                    kid: try row.text("kid"), algorithm: try row.text("algorithm"),
                    sealedPrivateKey: Array(buffer.readableBytesView), createdAt: try row.date("created_at"),
                    retiredAt: try row.optionalDate("retired_at")
                )
            }
    }

    public func addSigningKey(_ key: SigningKeyRecord) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "INSERT INTO signing_keys (kid, algorithm, sealed_private_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(key.kid), .text(key.algorithm), .blob(ByteBuffer(bytes: key.sealedPrivateKey)), key.createdAt.sqlite,
                    key.retiredAt.sqlite,
                ]
            )
        }
    }

    public func rotateSigningKey(to key: SigningKeyRecord) async throws {
        try await transaction { connection in
            _ = try await connection.query(
                "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL", [key.createdAt.sqlite])
            _ = try await connection.query(
                "INSERT INTO signing_keys (kid, algorithm, sealed_private_key, created_at, retired_at) VALUES (?, ?, ?, ?, NULL)",
                [.text(key.kid), .text(key.algorithm), .blob(ByteBuffer(bytes: key.sealedPrivateKey)), key.createdAt.sqlite])
        }
    }

    // MARK: Row decoding

    private static func organization(from row: SQLiteRow) throws -> Organization {
        guard let id = OrganizationID(try row.text("id")) else { throw StoreError.corrupt("bad organization id") }
        let lifetime = row.column("max_token_lifetime_seconds")
        let policy = TokenPolicy(
            maximumLifetime: lifetime.flatMap { $0.isNull ? nil : $0.double }, requireExpiry: try row.int("require_expiry") != 0)
        return Organization(id: id, name: try row.text("name"), createdAt: try row.date("created_at"), policy: policy)
    }

    /// The stored form of an IP fence: a JSON array, or NULL for none.
    private static func cidrs(_ cidrs: [String]) throws -> SQLiteData {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return cidrs.isEmpty ? .null : .text(String(decoding: try encoder.encode(cidrs), as: UTF8.self))
    }

    private static func token(from row: SQLiteRow) throws -> APIToken {
        guard let id = TokenID(try row.text("id")), let organizationID = OrganizationID(try row.text("organization_id")),
            let name = try? TokenName(try row.text("name")), let role = Role(rawValue: try row.text("role")),
            let digest = SecretDigest(storageString: try row.text("secret_digest"))
        else { throw StoreError.corrupt("unreadable token row") }
        var allowedCIDRs: [String] = []
        if let stored = row.column("allowed_cidrs")?.string {
            guard let parsed = try? JSONDecoder().decode([String].self, from: Data(stored.utf8)) else {
                throw StoreError.corrupt("unreadable token row")
            }
            allowedCIDRs = parsed
        }
        var previousSecret: PreviousSecret?
        if let stored = row.column("previous_secret_digest")?.string {
            guard let previousDigest = SecretDigest(storageString: stored), let validUntil = try row.optionalDate("previous_secret_valid_until")
            else { throw StoreError.corrupt("unreadable token row") }
            previousSecret = PreviousSecret(
                digest: previousDigest, generation: try row.int("previous_secret_generation"), validUntil: validUntil,
                lastUsedAt: try row.optionalDate("previous_secret_last_used_at"))
        }
        return APIToken(
            id: id, organizationID: organizationID, name: name, role: role, secretDigest: digest,
            secretGeneration: try row.int("secret_generation"), createdAt: try row.date("created_at"),
            updatedAt: try row.date("updated_at"), secretRotatedAt: try row.date("secret_rotated_at"),
            lastUsedAt: try row.optionalDate("last_used_at"), lastUsedIP: row.column("last_used_ip")?.string,
            lastUsedUserAgent: row.column("last_used_user_agent")?.string, secretLastUsedAt: try row.optionalDate("secret_last_used_at"),
            expiresAt: try row.optionalDate("expires_at"), allowedCIDRs: allowedCIDRs, previousSecret: previousSecret,
            createdBy: try row.text("created_by")
        )
    }

    private static func cluster(from row: SQLiteRow) throws -> Cluster {
        guard let id = ClusterID(try row.text("id")), let organizationID = OrganizationID(try row.text("organization_id")),
            let name = try? ClusterName(try row.text("name"))
        else { throw StoreError.corrupt("unreadable cluster row") }
        var digest: SecretDigest?
        if let stored = row.column("webhook_credential_digest")?.string {
            guard let parsed = SecretDigest(storageString: stored) else { throw StoreError.corrupt("unreadable cluster row") }
            digest = parsed
        }
        return Cluster(
            id: id, organizationID: organizationID, name: name, apiEndpoint: try row.text("api_endpoint"),
            caBundle: row.column("ca_bundle")?.string, webhookCredentialDigest: digest, createdAt: try row.date("created_at"),
            updatedAt: try row.date("updated_at"), createdBy: try row.text("created_by")
        )
    }

    private static func user(from row: SQLiteRow) throws -> User {
        guard let id = UserID(try row.text("id")), let organizationID = OrganizationID(try row.text("organization_id")),
            let email = try? EmailAddress(try row.text("email")), let role = Role(rawValue: try row.text("role"))
        else { throw StoreError.corrupt("unreadable user row") }
        return User(
            id: id, organizationID: organizationID, email: email, role: role, ssoSubject: row.column("sso_subject")?.string,
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"), createdBy: try row.text("created_by"),
            lastSignInAt: try row.optionalDate("last_sign_in_at")
        )
    }

    private static func session(from row: SQLiteRow) throws -> ConsoleSession {
        guard let digest = SecretDigest(storageString: try row.text("digest")), let userID = UserID(try row.text("user_id")),
            let organizationID = OrganizationID(try row.text("organization_id")), let method = SignInMethod(rawValue: try row.text("method"))
        else { throw StoreError.corrupt("unreadable console session row") }
        return ConsoleSession(
            digest: digest, userID: userID, organizationID: organizationID, createdAt: try row.date("created_at"),
            expiresAt: try row.date("expires_at"), sourceIP: row.column("source_ip")?.string, method: method
        )
    }

    private static func signInLink(from row: SQLiteRow) throws -> SignInLink {
        guard let digest = SecretDigest(storageString: try row.text("digest")), let userID = UserID(try row.text("user_id")),
            let organizationID = OrganizationID(try row.text("organization_id"))
        else { throw StoreError.corrupt("unreadable sign-in link row") }
        return SignInLink(
            digest: digest, userID: userID, organizationID: organizationID, createdAt: try row.date("created_at"),
            expiresAt: try row.date("expires_at"), usedAt: try row.optionalDate("used_at")
        )
    }

    private static func auditEvent(from row: SQLiteRow) throws -> AuditEvent {
        guard let id = UUID(uuidString: try row.text("id")),
            let organizationID = OrganizationID(try row.text("organization_id")),
            let action = AuditAction(rawValue: try row.text("action")),
            let details = try? JSONDecoder().decode([String: String].self, from: Data(try row.text("details").utf8))
        else { throw StoreError.corrupt("unreadable audit event") }
        return AuditEvent(
            id: id, organizationID: organizationID, occurredAt: try row.date("occurred_at"), actor: try row.text("actor"),
            action: action, targetType: try row.text("target_type"), targetID: try row.text("target_id"),
            sourceIP: row.column("source_ip")?.string, requestID: row.column("request_id")?.string,
            outcome: try row.text("outcome"), details: details
        )
    }
}

extension SQLiteRow {
    fileprivate func text(_ name: String) throws -> String {
        guard let value = column(name)?.string else { throw StoreError.corrupt("missing column \(name)") }
        return value
    }

    fileprivate func int(_ name: String) throws -> Int {
        guard let value = column(name)?.integer else { throw StoreError.corrupt("missing column \(name)") }
        return value
    }

    fileprivate func date(_ name: String) throws -> Date {
        Date(microseconds: Int64(try int(name)))
    }

    fileprivate func optionalDate(_ name: String) throws -> Date? {
        guard let data = column(name), !data.isNull else { return nil }
        return try date(name)
    }
}

extension Date {
    /// Microseconds since 1970, the stored form of every time.
    var microseconds: Int64 { Int64((timeIntervalSince1970 * 1_000_000).rounded()) }

    init(microseconds: Int64) {
        self.init(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    fileprivate var sqlite: SQLiteData { .integer(Int(microseconds)) }
}

extension Optional where Wrapped == Date {
    fileprivate var sqlite: SQLiteData { map(\.sqlite) ?? .null }
}

extension Optional where Wrapped == String {
    fileprivate var sqlite: SQLiteData { map { .text($0) } ?? .null }
}

extension JSONEncoder {
    fileprivate static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
