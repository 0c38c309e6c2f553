import CloudfleetCore
import CloudfleetStore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The scale-out store: PostgreSQL through postgres-nio's connection pool. Several stateless server nodes share
/// one database. Every change runs in one transaction; a token change is read back with `RETURNING`, so a
/// missing or foreign token is `notFound` without a second round trip.
public final class PostgresStore: Store {
    /// The connection pool. It must be running (``PostgresClient/run()``) while the store is used; the server
    /// runs it as a service.
    public let client: PostgresClient
    private let logger: Logger
    /// The task running the pool when this store started it itself (``connect(url:logger:)``).
    private let runner: Mutex<Task<Void, Never>?>

    /// A store on `client`, which the caller runs. Call ``migrate()`` once the client runs.
    public init(client: PostgresClient, logger: Logger = Logger(label: "cloudfleet.postgres")) {
        self.client = client
        self.logger = logger
        self.runner = Mutex(nil)
    }

    /// A store on a new pool for `url` that the store runs itself until ``close()``.
    public static func connect(url: String, logger: Logger) throws -> PostgresStore {
        let client = PostgresClient(configuration: try PostgresURL.configuration(url), backgroundLogger: logger)
        let store = PostgresStore(client: client, logger: logger)
        store.runner.withLock { $0 = Task { await client.run() } }
        return store
    }

    // MARK: Plumbing

    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await translatingErrors {
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    private func read(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await translatingErrors {
            var rows: [PostgresRandomAccessRow] = []
            for try await row in try await client.query(query, logger: logger) { rows.append(row.makeRandomAccess()) }
            return rows
        }
    }

    private static func rows(_ sequence: PostgresRowSequence) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in sequence { rows.append(row.makeRandomAccess()) }
        return rows
    }

    private func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.translate(error)
        }
    }

    /// The store error for a driver error; a failed transaction is judged by what made it fail.
    private static func translate(_ error: any Error) -> any Error {
        switch error {
        case let error as PostgresTransactionError:
            let cause = error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError
            return translate(cause ?? StoreError.unavailable("transaction failed"))
        case is StoreError, is CancellationError:
            return error
        case let error as PSQLError:
            guard let state = error.serverInfo?[.sqlState] else {
                return StoreError.unavailable("database connection failed (\(error.code))")
            }
            switch state {
            case "23505": return StoreError.alreadyExists
            case "23503": return StoreError.notFound
            case "40001", "40P01": return StoreError.unavailable("concurrent update; retry")
            case let state where state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53"):
                return StoreError.unavailable("database unavailable (SQLSTATE \(state))")
            default:
                return StoreError.corrupt("database error SQLSTATE \(state): \(error.serverInfo?[.message] ?? "")")
            }
        default:
            // Pool errors: no connection could be leased in time, the pool is shutting down.
            return StoreError.unavailable("database unavailable: \(type(of: error))")
        }
    }

    // MARK: Lifecycle

    public func migrate() async throws {
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
                logger: logger)
        }
        for migration in PostgresMigrations.all {
            try await transaction { connection in
                // The lock serialises nodes; the check under it makes each migration run once.
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))", logger: logger)
                let applied = try await Self.rows(
                    try await connection.query("SELECT version FROM schema_migrations ORDER BY version", logger: logger))
                let versions = try applied.map { try $0["version"].decode(Int.self) }
                if let newest = versions.max(), newest > (PostgresMigrations.all.map(\.version).max() ?? 0) {
                    throw StoreError.corrupt("database schema version \(newest) is newer than this server understands")
                }
                guard !versions.contains(migration.version) else { return }
                for statement in migration.statements {
                    try await connection.query(statement, logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), now())",
                    logger: logger)
            }
        }
    }

    public func ping() async throws {
        _ = try await read("SELECT 1")
    }

    public func close() async throws {
        guard let task = runner.withLock({ $0.take() }) else { return }
        task.cancel()
        await task.value
    }

    // MARK: Organizations

    public func createOrganization(_ organization: Organization, audit: AuditEvent) async throws {
        try await transaction { connection in
            try await connection.query(
                "INSERT INTO organizations (id, name, created_at) VALUES (\(organization.id.uuid), \(organization.name), \(organization.createdAt))",
                logger: logger)
            try await Self.insert(audit, on: connection, logger: logger)
        }
    }

    public func organization(id: OrganizationID) async throws -> Organization? {
        try await read("SELECT id, name, created_at FROM organizations WHERE id = \(id.uuid)").first.map(Self.organization(from:))
    }

    public func listOrganizations(limit: Int) async throws -> [Organization] {
        try await read("SELECT id, name, created_at FROM organizations ORDER BY created_at, id LIMIT \(max(1, limit))")
            .map(Self.organization(from:))
    }

    public func organizationCount() async throws -> Int {
        try await read("SELECT COUNT(*) AS n FROM organizations").first?["n"].decode(Int.self) ?? 0
    }

    // MARK: Tokens

    private static let tokenColumns = """
        id, organization_id, name, role, secret_digest, secret_generation, created_at, updated_at, secret_rotated_at, \
        last_used_at, last_used_ip, expires_at, created_by
        """

    public func createToken(_ token: APIToken, audit: AuditEvent) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO api_tokens (id_lower, id, organization_id, name, role, secret_digest, secret_generation, created_at,
                    updated_at, secret_rotated_at, last_used_at, last_used_ip, expires_at, created_by)
                VALUES (\(token.id.lowercased), \(token.id.rawValue), \(token.organizationID.uuid), \(token.name.rawValue),
                    \(token.role.rawValue), \(token.secretDigest.storageString), \(token.secretGeneration), \(token.createdAt),
                    \(token.updatedAt), \(token.secretRotatedAt), \(token.lastUsedAt), \(token.lastUsedIP), \(token.expiresAt),
                    \(token.createdBy))
                """,
                logger: logger)
            try await Self.insert(audit, on: connection, logger: logger)
        }
    }

    public func token(id: TokenID) async throws -> APIToken? {
        try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.tokenColumns) FROM api_tokens WHERE id = $1", binds: try Self.binds(id.rawValue)))
            .first.map(Self.token(from:))
    }

    public func listTokens(organization: OrganizationID, after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    {
        let limit = max(1, limit)
        var binds = PostgresBindings()
        binds.append(organization.uuid)
        var sql = "SELECT \(Self.tokenColumns) FROM api_tokens WHERE organization_id = $1"
        if let cursor {
            binds.append(cursor.createdAt)
            binds.append(cursor.id.rawValue)
            sql += " AND (created_at, id) > ($2, $3)"
        }
        binds.append(limit + 1)
        sql += " ORDER BY created_at, id LIMIT $\(binds.count)"
        var tokens = try await read(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.token(from:))
        var next: TokenCursor?
        if tokens.count > limit {
            tokens.removeLast()
            next = tokens.last.map { TokenCursor(createdAt: $0.createdAt, id: $0.id) }
        }
        return Page(items: tokens, next: next)
    }

    public func tokenCount(organization: OrganizationID) async throws -> Int {
        try await read("SELECT COUNT(*) AS n FROM api_tokens WHERE organization_id = \(organization.uuid)").first?["n"].decode(Int.self) ?? 0
    }

    public func updateToken(id: TokenID, organization: OrganizationID, change: TokenChange, at: Date, audit: AuditEvent)
        async throws -> APIToken
    {
        try await changeToken(
            id: id, audit: audit,
            PostgresQuery(
                unsafeSQL: """
                    UPDATE api_tokens SET name = COALESCE($1, name), role = COALESCE($2, role), updated_at = $3
                    WHERE id = $4 AND organization_id = $5 RETURNING \(Self.tokenColumns)
                    """,
                binds: try Self.binds(change.name?.rawValue, change.role?.rawValue, at, id.rawValue, organization.uuid)))
    }

    public func replaceSecret(id: TokenID, organization: OrganizationID, digest: SecretDigest, at: Date, audit: AuditEvent)
        async throws -> APIToken
    {
        try await changeToken(
            id: id, audit: audit,
            PostgresQuery(
                unsafeSQL: """
                    UPDATE api_tokens SET secret_digest = $1, secret_generation = secret_generation + 1, secret_rotated_at = $2,
                        updated_at = $2
                    WHERE id = $3 AND organization_id = $4 RETURNING \(Self.tokenColumns)
                    """,
                binds: try Self.binds(digest.storageString, at, id.rawValue, organization.uuid)))
    }

    /// Runs an `UPDATE … RETURNING`, records `audit` and announces the change, all in one transaction;
    /// `notFound` if no row changed.
    private func changeToken(id: TokenID, audit: AuditEvent, _ update: PostgresQuery) async throws -> APIToken {
        try await transaction { connection in
            guard let row = try await Self.rows(try await connection.query(update, logger: logger)).first else {
                throw StoreError.notFound
            }
            try await Self.insert(audit, on: connection, logger: logger)
            try await Self.announce(id, on: connection, logger: logger)
            return try Self.token(from: row)
        }
    }

    /// The channel of token change notifications.
    static let changeChannel = "cloudfleet_token_changes"

    /// `pg_notify` inside the change's transaction: PostgreSQL delivers it only if and when the change commits.
    private static func announce(_ id: TokenID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(changeChannel), \(id.rawValue))", logger: logger)
    }

    public func deleteToken(id: TokenID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await transaction { connection in
            let deleted = try await Self.rows(
                try await connection.query(
                    "DELETE FROM api_tokens WHERE id = \(id.rawValue) AND organization_id = \(organization.uuid) RETURNING id", logger: logger))
            guard !deleted.isEmpty else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection, logger: logger)
            try await Self.announce(id, on: connection, logger: logger)
        }
    }

    public func recordUsage(_ usages: [TokenUsage]) async throws {
        guard !usages.isEmpty else { return }
        try await transaction { connection in
            for usage in usages {
                try await connection.query(
                    """
                    UPDATE api_tokens SET last_used_at = \(usage.at), last_used_ip = \(usage.sourceIP)
                    WHERE id = \(usage.tokenID.rawValue) AND (last_used_at IS NULL OR last_used_at < \(usage.at))
                    """,
                    logger: logger)
            }
        }
    }

    // MARK: Audit

    private static func insert(_ event: AuditEvent, on connection: PostgresConnection, logger: Logger) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let details = String(decoding: try encoder.encode(event.details), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO audit_events (id, organization_id, occurred_at, actor, action, target_type, target_id, source_ip,
                request_id, outcome, details)
            VALUES (\(event.id), \(event.organizationID.uuid), \(event.occurredAt), \(event.actor), \(event.action.rawValue),
                \(event.targetType), \(event.targetID), \(event.sourceIP), \(event.requestID), \(event.outcome), \(details)::jsonb)
            """,
            logger: logger)
    }

    public func listAuditEvents(organization: OrganizationID, after cursor: AuditCursor?, limit: Int) async throws
        -> Page<AuditEvent, AuditCursor>
    {
        let limit = max(1, limit)
        var binds = PostgresBindings()
        binds.append(organization.uuid)
        var sql = """
            SELECT seq, id, organization_id, occurred_at, actor, action, target_type, target_id, source_ip, request_id, outcome,
                details::text AS details
            FROM audit_events WHERE organization_id = $1
            """
        if let cursor {
            binds.append(cursor.sequence)
            sql += " AND seq < $2"
        }
        binds.append(limit + 1)
        sql += " ORDER BY seq DESC LIMIT $\(binds.count)"
        var events = try await read(PostgresQuery(unsafeSQL: sql, binds: binds)).map { row in
            (try row["seq"].decode(Int64.self), try Self.auditEvent(from: row))
        }
        var next: AuditCursor?
        if events.count > limit {
            events.removeLast()
            next = events.last.map { AuditCursor(sequence: $0.0) }
        }
        return Page(items: events.map(\.1), next: next)
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [SigningKeyRecord] {
        try await read("SELECT kid, algorithm, sealed_private_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid")
            .map { row in
                SigningKeyRecord(
                    kid: try row["kid"].decode(String.self), algorithm: try row["algorithm"].decode(String.self),
                    sealedPrivateKey: Array(try row["sealed_private_key"].decode(ByteBuffer.self).readableBytesView),
                    createdAt: try row["created_at"].decode(Date.self), retiredAt: try row["retired_at"].decode(Date?.self))
            }
    }

    public func addSigningKey(_ key: SigningKeyRecord) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO signing_keys (kid, algorithm, sealed_private_key, created_at, retired_at)
                VALUES (\(key.kid), \(key.algorithm), \(ByteBuffer(bytes: key.sealedPrivateKey)), \(key.createdAt), \(key.retiredAt))
                """,
                logger: logger)
        }
    }

    // MARK: Row decoding

    private static func binds(_ values: (any PostgresEncodable & Sendable)?...) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values {
            if let value { try bindings.append(value) } else { bindings.appendNull() }
        }
        return bindings
    }

    private static func organization(from row: PostgresRandomAccessRow) throws -> Organization {
        Organization(
            id: OrganizationID(try row["id"].decode(UUID.self)), name: try row["name"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self))
    }

    private static func token(from row: PostgresRandomAccessRow) throws -> APIToken {
        guard let id = TokenID(try row["id"].decode(String.self)), let name = try? TokenName(try row["name"].decode(String.self)),
            let role = Role(rawValue: try row["role"].decode(String.self)),
            let digest = SecretDigest(storageString: try row["secret_digest"].decode(String.self))
        else { throw StoreError.corrupt("unreadable token row") }
        return APIToken(
            id: id, organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)), name: name, role: role,
            secretDigest: digest, secretGeneration: try row["secret_generation"].decode(Int.self),
            createdAt: try row["created_at"].decode(Date.self), updatedAt: try row["updated_at"].decode(Date.self),
            secretRotatedAt: try row["secret_rotated_at"].decode(Date.self), lastUsedAt: try row["last_used_at"].decode(Date?.self),
            lastUsedIP: try row["last_used_ip"].decode(String?.self), expiresAt: try row["expires_at"].decode(Date?.self),
            createdBy: try row["created_by"].decode(String.self))
    }

    private static func auditEvent(from row: PostgresRandomAccessRow) throws -> AuditEvent {
        guard let action = AuditAction(rawValue: try row["action"].decode(String.self)),
            let details = try? JSONDecoder().decode([String: String].self, from: Data(try row["details"].decode(String.self).utf8))
        else { throw StoreError.corrupt("unreadable audit event") }
        return AuditEvent(
            id: try row["id"].decode(UUID.self), organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)),
            occurredAt: try row["occurred_at"].decode(Date.self), actor: try row["actor"].decode(String.self), action: action,
            targetType: try row["target_type"].decode(String.self), targetID: try row["target_id"].decode(String.self),
            sourceIP: try row["source_ip"].decode(String?.self), requestID: try row["request_id"].decode(String?.self),
            outcome: try row["outcome"].decode(String.self), details: details)
    }
}

extension PostgresStore: ChangeFeed {
    public func followTokenChanges(
        onSubscribed: @escaping @Sendable () -> Void, onChange: @escaping @Sendable (TokenID) -> Void,
        onLost: @escaping @Sendable () -> Void
    ) async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.changeChannel) { notifications in
                        onSubscribed()
                        delay = .milliseconds(100)
                        for try await notification in notifications {
                            if let id = TokenID(notification.payload) { onChange(id) }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("lost the token change feed; resubscribing", metadata: ["error": "\(Self.translate(error))"])
            }
            onLost()
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
    }
}
