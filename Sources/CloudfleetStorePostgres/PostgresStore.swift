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
    /// The pool in use and, when this store runs it itself, the task running it.
    private struct Pool {
        let client: PostgresClient
        let runner: Task<Void, Never>?
    }

    private let pool: Mutex<Pool?>
    /// How to build a fresh pool after an outage; `nil` when the caller runs the client.
    private let configuration: PostgresClient.Configuration?
    /// Whether a probe of the database runs (at most one at a time).
    private let probing = Mutex(false)
    /// Whether the database is known to be unreachable: operations fail at once until a fresh pool answers.
    private let recovering = Mutex(false)
    private let logger: Logger
    /// How long one store operation may wait for the database before it fails as unavailable (HTTP 503).
    let operationTimeout: Duration
    /// The deadlines of the operations in flight, and the one task that enforces them.
    private let deadlines: OperationDeadlines
    private let watchdog: Task<Void, Never>

    /// The connection pool in use.
    public var client: PostgresClient {
        get throws {
            guard let client = pool.withLock({ $0?.client }) else { throw StoreError.unavailable("the store is closed") }
            return client
        }
    }

    /// A store on `client`, which the caller runs. Call ``migrate()`` once the client runs.
    public init(client: PostgresClient, logger: Logger = Logger(label: "cloudfleet.postgres"), operationTimeout: Duration = .seconds(10)) {
        self.pool = Mutex(Pool(client: client, runner: nil))
        self.configuration = nil
        self.logger = logger
        self.operationTimeout = operationTimeout
        (self.deadlines, self.watchdog) = OperationDeadlines.watched()
    }

    private init(configuration: PostgresClient.Configuration, logger: Logger, operationTimeout: Duration) {
        self.configuration = configuration
        self.logger = logger
        self.operationTimeout = operationTimeout
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.pool = Mutex(Pool(client: client, runner: Task { await client.run() }))
        (self.deadlines, self.watchdog) = OperationDeadlines.watched()
    }

    deinit {
        watchdog.cancel()
    }

    /// A store on a new pool for `url` that the store runs itself until ``close()``, and replaces with a fresh
    /// pool once the database answers again after an outage (a pool that failed to connect for long backs off
    /// for up to a minute).
    public static func connect(url: String, logger: Logger, operationTimeout: Duration = .seconds(10)) throws -> PostgresStore {
        PostgresStore(configuration: try PostgresURL.configuration(url), logger: logger, operationTimeout: operationTimeout)
    }

    // MARK: Plumbing

    @discardableResult
    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = try self.client
        let logger = self.logger
        return try await guarded {
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    private func read(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await rows { client, logger in try await client.query(query, logger: logger).map { $0.makeRandomAccess() } }
    }

    /// The rows of a prepared read (see `PreparedRead`).
    private func read(_ statement: some PreparedRead) async throws -> [PostgresRandomAccessRow] {
        try await rows { client, logger in try await client.execute(statement, logger: logger) }
    }

    /// All the rows of what `run` sends on the pool, within the operation's deadline (`guarded`).
    private func rows<Rows: AsyncSequence>(_ run: @escaping @Sendable (PostgresClient, Logger) async throws -> Rows) async throws
        -> [PostgresRandomAccessRow]
    where Rows.Element == PostgresRandomAccessRow, Rows: SendableMetatype, Rows.AsyncIterator: SendableMetatype {
        let client = try self.client
        let logger = self.logger
        return try await guarded {
            var rows: [PostgresRandomAccessRow] = []
            for try await row in try await run(client, logger) { rows.append(row) }
            return rows
        }
    }

    /// Runs one store operation with the operation timeout, translating its errors; a database that cannot be
    /// reached starts the recovery of the pool.
    private func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        // While the database is known to be unreachable, answer at once instead of waiting for the timeout.
        if recovering.withLock({ $0 }) { throw StoreError.unavailable("the database is unreachable; reconnecting") }
        do {
            return try await Self.withTimeout(operationTimeout, deadlines: deadlines, body)
        } catch {
            let translated = Self.translate(error)
            if case StoreError.unavailable = translated { recoverPool() }
            throw translated
        }
    }

    /// The result of `body`, or `unavailable` once `timeout` has passed. Does not wait for a body that ignores
    /// cancellation (a query stuck on a dead connection): the caller gets its answer on time either way.
    ///
    /// The deadline is an entry in `deadlines`, removed with the answer, not a timer task per operation: those
    /// slept out the whole timeout after every answer, and a cancelled `Task.sleep` still holds its timer until
    /// the deadline. At a thousand reads a second that was ten thousand sleepers and 100 MB and more, growing
    /// with the request rate (found by bench/run's memory after each row).
    static func withTimeout<T: Sendable>(
        _ timeout: Duration, deadlines: OperationDeadlines, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let pending = PendingAnswer<T>()
        return try await withCheckedThrowingContinuation { continuation in
            pending.set(continuation)
            let work = Task {
                let result: Result<T, any Error>
                do {
                    result = .success(try await body())
                } catch {
                    result = .failure(error)
                }
                let (waiting, deadline) = pending.take()
                if let deadline { deadlines.remove(deadline) }
                waiting?.resume(with: result)
            }
            // Only the deadline's entry holds the work task, and nothing holds the entry once it is removed: no cycle
            // keeps a finished operation alive.
            let deadline = deadlines.add(.now + timeout) {
                guard let waiting = pending.take().continuation else { return }
                work.cancel()
                waiting.resume(throwing: StoreError.unavailable("the database did not answer within \(timeout)"))
            }
            if !pending.setDeadline(deadline) { deadlines.remove(deadline) }
        }
    }

    /// After an operation failed as unavailable: if the pool in use still answers, the database was only slow
    /// (an overloaded server or database), and nothing changes. Otherwise operations fail at once while a fresh
    /// pool is tried until one answers, which then replaces the old one (one probe at a time).
    ///
    /// Checking the pool in use first matters under overload: swapping pools cancels the queries in flight on the
    /// old one, whose failures would start the next swap, and every request would get 503 for as long as the
    /// load lasted (seen with 64 connections listing tokens on one shared core, bench/history.md).
    private func recoverPool() {
        guard let configuration,
            probing.withLock({ running in
                defer { running = true }
                return !running
            })
        else { return }
        let logger = self.logger
        let current = try? self.client
        Task {
            defer {
                recovering.withLock { $0 = false }
                probing.withLock { $0 = false }
            }
            if let current, await Self.answers(current, within: .seconds(3)) {
                logger.notice("database slow but reachable; keeping the connection pool")
                return
            }
            recovering.withLock { $0 = true }
            while !Task.isCancelled {
                let candidate = PostgresClient(configuration: configuration, backgroundLogger: logger)
                let runner = Task { await candidate.run() }
                let answered = await Self.answers(candidate, within: .seconds(1))
                if answered {
                    let old = pool.withLock { pool -> Pool? in
                        guard let current = pool else { return nil }
                        pool = Pool(client: candidate, runner: runner)
                        return current
                    }
                    guard let old else {
                        runner.cancel()
                        return
                    }
                    old.runner?.cancel()
                    logger.notice("database reachable; using a fresh connection pool")
                    return
                }
                runner.cancel()
                try? await Task.sleep(for: .milliseconds(250))
                if pool.withLock({ $0 == nil }) { return }
            }
        }
    }

    private static func answers(_ client: PostgresClient, within timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await client.query("SELECT 1")) != nil }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
    }

    private static func rows(_ sequence: PostgresRowSequence) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in sequence { rows.append(row.makeRandomAccess()) }
        return rows
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
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))", logger: self.logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
                logger: self.logger)
        }
        for migration in PostgresMigrations.all {
            try await transaction { connection in
                // The lock serialises nodes; the check under it makes each migration run once.
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey))", logger: self.logger)
                let applied = try await Self.rows(
                    try await connection.query("SELECT version FROM schema_migrations ORDER BY version", logger: self.logger))
                let versions = try applied.map { try $0["version"].decode(Int.self) }
                if let newest = versions.max(), newest > (PostgresMigrations.all.map(\.version).max() ?? 0) {
                    throw StoreError.corrupt("database schema version \(newest) is newer than this server understands")
                }
                guard !versions.contains(migration.version) else { return }
                for statement in migration.statements {
                    try await connection.query(statement, logger: self.logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), now())",
                    logger: self.logger)
            }
        }
    }

    public func ping() async throws {
        _ = try await read("SELECT 1")
    }

    public func close() async throws {
        watchdog.cancel()
        guard let runner = pool.withLock({ $0.take() })?.runner else { return }
        runner.cancel()
        await runner.value
    }

    // MARK: Organizations

    static let organizationColumns = "id, name, created_at, max_token_lifetime_seconds, require_expiry"

    public func createOrganization(_ organization: Organization, audit: AuditEvent) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO organizations (id, name, created_at, max_token_lifetime_seconds, require_expiry)
                VALUES (\(organization.id.uuid), \(organization.name), \(organization.createdAt.timestamp),
                    \(organization.policy.maximumLifetime), \(organization.policy.requireExpiry))
                """,
                logger: self.logger)
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func organization(id: OrganizationID) async throws -> Organization? {
        try await read(OrganizationByID(key: id.uuid)).first.map(Self.organization(from:))
    }

    public func updateOrganizationPolicy(id: OrganizationID, policy: TokenPolicy, audit: AuditEvent) async throws -> Organization {
        let update = PostgresQuery(
            unsafeSQL: """
                UPDATE organizations SET max_token_lifetime_seconds = $1, require_expiry = $2 WHERE id = $3
                RETURNING \(Self.organizationColumns)
                """,
            binds: try Self.binds(policy.maximumLifetime, policy.requireExpiry, id.uuid))
        return try await transaction { connection in
            guard let row = try await Self.rows(try await connection.query(update, logger: self.logger)).first else {
                throw StoreError.notFound
            }
            try await Self.insert(audit, on: connection, logger: self.logger)
            return try Self.organization(from: row)
        }
    }

    public func listOrganizations(limit: Int) async throws -> [Organization] {
        try await read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.organizationColumns) FROM organizations ORDER BY created_at, id LIMIT $1",
                binds: try Self.binds(max(1, limit)))
        ).map(Self.organization(from:))
    }

    public func organizationCount() async throws -> Int {
        try await read("SELECT COUNT(*) AS n FROM organizations").first?["n"].decode(Int.self) ?? 0
    }

    // MARK: Tokens

    static let tokenColumns = """
        id, organization_id, name, role, secret_digest, secret_generation, created_at, updated_at, secret_rotated_at, \
        last_used_at, last_used_ip, last_used_user_agent, secret_last_used_at, expires_at, allowed_cidrs::text AS allowed_cidrs, \
        previous_secret_digest, previous_secret_generation, previous_secret_valid_until, previous_secret_last_used_at, created_by
        """

    public func createToken(_ token: APIToken, audit: AuditEvent) async throws {
        let cidrs = try Self.cidrs(token.allowedCIDRs)
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO api_tokens (id_lower, id, organization_id, name, role, secret_digest, secret_generation, created_at,
                    updated_at, secret_rotated_at, last_used_at, last_used_ip, last_used_user_agent, secret_last_used_at,
                    expires_at, allowed_cidrs, previous_secret_digest, previous_secret_generation, previous_secret_valid_until,
                    previous_secret_last_used_at, created_by)
                VALUES (\(token.id.lowercased), \(token.id.rawValue), \(token.organizationID.uuid), \(token.name.rawValue),
                    \(token.role.rawValue), \(token.secretDigest.storageString), \(token.secretGeneration), \(token.createdAt.timestamp),
                    \(token.updatedAt.timestamp), \(token.secretRotatedAt.timestamp), \(token.lastUsedAt?.timestamp), \(token.lastUsedIP),
                    \(token.lastUsedUserAgent), \(token.secretLastUsedAt?.timestamp), \(token.expiresAt?.timestamp), \(cidrs)::jsonb,
                    \(token.previousSecret?.digest.storageString), \(token.previousSecret?.generation),
                    \(token.previousSecret?.validUntil.timestamp), \(token.previousSecret?.lastUsedAt?.timestamp), \(token.createdBy))
                """,
                logger: self.logger)
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func token(id: TokenID) async throws -> APIToken? {
        try await read(TokenByID(key: id.rawValue)).first.map(Self.token(from:))
    }

    public func token(secretDigest digest: SecretDigest) async throws -> APIToken? {
        // Digests of random secrets never collide; should they, the current secret's token wins.
        try await read(TokenBySecretDigest(key: digest.storageString)).first.map(Self.token(from:))
    }

    public func listTokens(organization: OrganizationID, filter: TokenFilter, after cursor: TokenCursor?, limit: Int) async throws
        -> Page<APIToken, TokenCursor>
    {
        let limit = max(1, limit)
        var binds = PostgresBindings()
        binds.append(organization.uuid)
        var sql = "SELECT \(Self.tokenColumns) FROM api_tokens WHERE organization_id = $1"
        if let expiringBefore = filter.expiringBefore {
            binds.append(expiringBefore.timestamp)
            sql += " AND expires_at IS NOT NULL AND expires_at <= $\(binds.count)"
            if let now = filter.now {
                binds.append(now.timestamp)
                sql += " AND expires_at > $\(binds.count)"
            }
        }
        if let unusedSince = filter.unusedSince {
            binds.append(unusedSince.timestamp)
            sql += " AND (last_used_at < $\(binds.count) OR (last_used_at IS NULL AND created_at < $\(binds.count)))"
        }
        if let cursor {
            binds.append(cursor.createdAt.timestamp)
            binds.append(cursor.id.rawValue)
            sql += " AND (created_at, id) > ($\(binds.count - 1), $\(binds.count))"
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

    public func tokenCountsByRole() async throws -> [Role: Int] {
        // Kept by triggers (migrations 5 and 6): as cheap with a million tokens as with ten.
        let row = try await read(
            "SELECT COALESCE(SUM(n), 0)::BIGINT AS n, COALESCE(SUM(administrators), 0)::BIGINT AS administrators FROM token_counts"
        ).first
        return Role.counts(all: try row?["n"].decode(Int.self) ?? 0, administrators: try row?["administrators"].decode(Int.self) ?? 0)
    }

    public func tokenCount(organization: OrganizationID) async throws -> Int {
        // Kept by a trigger (migration 5): constant time whatever the number of tokens.
        try await read(TokenCountByOrganization(key: organization.uuid)).first?["n"].decode(Int.self) ?? 0
    }

    public func updateToken(id: TokenID, organization: OrganizationID, change: TokenChange, at: Date, audit: AuditEvent)
        async throws -> APIToken
    {
        try await changeToken(
            id: id, audit: audit,
            PostgresQuery(
                unsafeSQL: """
                    UPDATE api_tokens SET name = COALESCE($1, name), role = COALESCE($2, role),
                        expires_at = CASE WHEN $3 THEN $4 ELSE expires_at END,
                        allowed_cidrs = CASE WHEN $5 THEN $6::jsonb ELSE allowed_cidrs END, updated_at = $7
                    WHERE id = $8 AND organization_id = $9 RETURNING \(Self.tokenColumns)
                    """,
                binds: try Self.binds(
                    change.name?.rawValue, change.role?.rawValue, change.expiresAt != nil, change.expiresAt.flatMap { $0 }?.timestamp,
                    change.allowedCIDRs != nil, try Self.cidrs(change.allowedCIDRs ?? []), at.timestamp, id.rawValue, organization.uuid)))
    }

    public func replaceSecret(
        id: TokenID, organization: OrganizationID, digest: SecretDigest, previousValidUntil: Date?, at: Date, audit: AuditEvent
    ) async throws -> APIToken {
        // Every right-hand side reads the row as it was, so the replaced secret moves to the previous slot with its
        // own last use.
        try await changeToken(
            id: id, audit: audit,
            PostgresQuery(
                unsafeSQL: """
                    UPDATE api_tokens SET secret_digest = $1, secret_generation = secret_generation + 1, secret_rotated_at = $2,
                        updated_at = $2, secret_last_used_at = NULL,
                        previous_secret_digest = CASE WHEN $3 THEN secret_digest END,
                        previous_secret_generation = CASE WHEN $3 THEN secret_generation END,
                        previous_secret_valid_until = $4,
                        previous_secret_last_used_at = CASE WHEN $3 THEN secret_last_used_at END
                    WHERE id = $5 AND organization_id = $6 RETURNING \(Self.tokenColumns)
                    """,
                binds: try Self.binds(
                    digest.storageString, at.timestamp, previousValidUntil != nil, previousValidUntil?.timestamp, id.rawValue, organization.uuid)))
    }

    public func revokeLeakedSecret(id: TokenID, leaked: SecretDigest, replacement: SecretDigest, at: Date, audit: AuditEvent)
        async throws -> APIToken
    {
        let current = PostgresQuery(
            unsafeSQL: """
                UPDATE api_tokens SET secret_digest = $1, secret_generation = secret_generation + 1, secret_rotated_at = $2,
                    updated_at = $2, secret_last_used_at = NULL, \(Self.noPreviousSecret)
                WHERE id = $3 AND secret_digest = $4 RETURNING \(Self.tokenColumns)
                """,
            binds: try Self.binds(replacement.storageString, at.timestamp, id.rawValue, leaked.storageString))
        let previous = PostgresQuery(
            unsafeSQL: """
                UPDATE api_tokens SET updated_at = $1, \(Self.noPreviousSecret)
                WHERE id = $2 AND previous_secret_digest = $3 RETURNING \(Self.tokenColumns)
                """,
            binds: try Self.binds(at.timestamp, id.rawValue, leaked.storageString))
        return try await transaction { connection in
            var row = try await Self.rows(try await connection.query(current, logger: self.logger)).first
            if row == nil {
                row = try await Self.rows(try await connection.query(previous, logger: self.logger)).first
            }
            guard let row else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection, logger: self.logger)
            try await Self.announce(id, on: connection, logger: self.logger)
            return try Self.token(from: row)
        }
    }

    private static let noPreviousSecret = """
        previous_secret_digest = NULL, previous_secret_generation = NULL, previous_secret_valid_until = NULL, \
        previous_secret_last_used_at = NULL
        """

    /// Runs an `UPDATE … RETURNING`, records `audit` and announces the change, all in one transaction;
    /// `notFound` if no row changed.
    private func changeToken(id: TokenID, audit: AuditEvent, _ update: PostgresQuery) async throws -> APIToken {
        try await transaction { connection in
            guard let row = try await Self.rows(try await connection.query(update, logger: self.logger)).first else {
                throw StoreError.notFound
            }
            try await Self.insert(audit, on: connection, logger: self.logger)
            try await Self.announce(id, on: connection, logger: self.logger)
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
                    "DELETE FROM api_tokens WHERE id = \(id.rawValue) AND organization_id = \(organization.uuid) RETURNING id", logger: self.logger))
            guard !deleted.isEmpty else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection, logger: self.logger)
            try await Self.announce(id, on: connection, logger: self.logger)
        }
    }

    public func recordUsage(_ usages: [TokenUsage]) async throws {
        guard !usages.isEmpty else { return }
        // In token order, so that batches of several nodes lock rows in the same order and never deadlock.
        let usages = usages.sorted { $0.tokenID.rawValue < $1.tokenID.rawValue }
        try await transaction { connection in
            for usage in usages {
                try await connection.query(
                    """
                    UPDATE api_tokens
                    SET last_used_at = \(usage.at.timestamp), last_used_ip = \(usage.sourceIP), last_used_user_agent = \(usage.userAgent)
                    WHERE id = \(usage.tokenID.rawValue) AND (last_used_at IS NULL OR last_used_at < \(usage.at.timestamp))
                    """,
                    logger: self.logger)
                switch usage.slot {
                case .current:
                    try await connection.query(
                        """
                        UPDATE api_tokens SET secret_last_used_at = \(usage.at.timestamp)
                        WHERE id = \(usage.tokenID.rawValue) AND (secret_last_used_at IS NULL OR secret_last_used_at < \(usage.at.timestamp))
                            AND secret_rotated_at <= \(usage.at.timestamp)
                        """,
                        logger: self.logger)
                case .previous:
                    try await connection.query(
                        """
                        UPDATE api_tokens SET previous_secret_last_used_at = \(usage.at.timestamp)
                        WHERE id = \(usage.tokenID.rawValue) AND previous_secret_digest IS NOT NULL
                            AND (previous_secret_last_used_at IS NULL OR previous_secret_last_used_at < \(usage.at.timestamp))
                        """,
                        logger: self.logger)
                }
            }
        }
    }

    // MARK: Clusters

    static let clusterColumns = """
        id, organization_id, name, api_endpoint, ca_bundle, webhook_credential_digest, created_at, updated_at, created_by
        """

    public func createCluster(_ cluster: Cluster, audit: AuditEvent) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO clusters (id, organization_id, name, api_endpoint, ca_bundle, webhook_credential_digest, created_at,
                    updated_at, created_by)
                VALUES (\(cluster.id.uuid), \(cluster.organizationID.uuid), \(cluster.name.rawValue), \(cluster.apiEndpoint),
                    \(cluster.caBundle), \(cluster.webhookCredentialDigest?.storageString), \(cluster.createdAt.timestamp), \(cluster.updatedAt.timestamp),
                    \(cluster.createdBy))
                """,
                logger: self.logger)
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func cluster(id: ClusterID) async throws -> Cluster? {
        try await read(ClusterByID(key: id.uuid)).first.map(Self.cluster(from:))
    }

    public func listClusters(organization: OrganizationID, after cursor: ClusterCursor?, limit: Int) async throws
        -> Page<Cluster, ClusterCursor>
    {
        let limit = max(1, limit)
        var binds = PostgresBindings()
        binds.append(organization.uuid)
        var sql = "SELECT \(Self.clusterColumns) FROM clusters WHERE organization_id = $1"
        if let cursor {
            binds.append(cursor.createdAt.timestamp)
            binds.append(cursor.id.uuid)
            sql += " AND (created_at, id) > ($2, $3)"
        }
        binds.append(limit + 1)
        sql += " ORDER BY created_at, id LIMIT $\(binds.count)"
        var clusters = try await read(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.cluster(from:))
        var next: ClusterCursor?
        if clusters.count > limit {
            clusters.removeLast()
            next = clusters.last.map { ClusterCursor(createdAt: $0.createdAt, id: $0.id) }
        }
        return Page(items: clusters, next: next)
    }

    public func deleteCluster(id: ClusterID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await transaction { connection in
            let deleted = try await Self.rows(
                try await connection.query(
                    "DELETE FROM clusters WHERE id = \(id.uuid) AND organization_id = \(organization.uuid) RETURNING id", logger: self.logger))
            guard !deleted.isEmpty else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func replaceWebhookCredential(
        id: ClusterID, organization: OrganizationID, digest: SecretDigest, at: Date, audit: AuditEvent
    ) async throws -> Cluster {
        let update = PostgresQuery(
            unsafeSQL: """
                UPDATE clusters SET webhook_credential_digest = $1, updated_at = $2
                WHERE id = $3 AND organization_id = $4 RETURNING \(Self.clusterColumns)
                """,
            binds: try Self.binds(digest.storageString, at.timestamp, id.uuid, organization.uuid))
        return try await transaction { connection in
            guard let row = try await Self.rows(try await connection.query(update, logger: self.logger)).first else {
                throw StoreError.notFound
            }
            try await Self.insert(audit, on: connection, logger: self.logger)
            return try Self.cluster(from: row)
        }
    }

    // MARK: Users and console sessions

    private static let userColumns = """
        id, organization_id, email, role, sso_subject, created_at, updated_at, created_by, last_sign_in_at
        """

    public func createUser(_ user: User, audit: AuditEvent) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO users (id, organization_id, email, role, sso_subject, created_at, updated_at, created_by, last_sign_in_at)
                VALUES (\(user.id.uuid), \(user.organizationID.uuid), \(user.email.rawValue), \(user.role.rawValue), \(user.ssoSubject),
                    \(user.createdAt.timestamp), \(user.updatedAt.timestamp), \(user.createdBy), \(user.lastSignInAt?.timestamp))
                """,
                logger: self.logger)
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func user(id: UserID) async throws -> User? {
        try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.userColumns) FROM users WHERE id = $1", binds: try Self.binds(id.uuid)))
            .first.map(Self.user(from:))
    }

    public func user(email: EmailAddress) async throws -> User? {
        try await read(
            PostgresQuery(unsafeSQL: "SELECT \(Self.userColumns) FROM users WHERE email = $1", binds: try Self.binds(email.rawValue))
        ).first.map(Self.user(from:))
    }

    public func user(ssoSubject: String) async throws -> User? {
        try await read(
            PostgresQuery(unsafeSQL: "SELECT \(Self.userColumns) FROM users WHERE sso_subject = $1", binds: try Self.binds(ssoSubject))
        ).first.map(Self.user(from:))
    }

    public func listUsers(organization: OrganizationID, after cursor: UserCursor?, limit: Int) async throws -> Page<User, UserCursor> {
        let limit = max(1, limit)
        var binds = PostgresBindings()
        binds.append(organization.uuid)
        var sql = "SELECT \(Self.userColumns) FROM users WHERE organization_id = $1"
        if let cursor {
            // `email` is COLLATE "C": the row comparison orders byte by byte, like the cursor.
            binds.append(cursor.email.rawValue)
            binds.append(cursor.id.uuid)
            sql += " AND (email, id) > ($2, $3)"
        }
        binds.append(limit + 1)
        sql += " ORDER BY email, id LIMIT $\(binds.count)"
        var users = try await read(PostgresQuery(unsafeSQL: sql, binds: binds)).map(Self.user(from:))
        var next: UserCursor?
        if users.count > limit {
            users.removeLast()
            next = users.last.map { UserCursor(email: $0.email, id: $0.id) }
        }
        return Page(items: users, next: next)
    }

    public func userCount(organization: OrganizationID, role: Role) async throws -> Int {
        try await read("SELECT COUNT(*) AS n FROM users WHERE organization_id = \(organization.uuid) AND role = \(role.rawValue)")
            .first?["n"].decode(Int.self) ?? 0
    }

    public func updateUserRole(id: UserID, organization: OrganizationID, role: Role, at: Date, audit: AuditEvent) async throws -> User {
        let update = PostgresQuery(
            unsafeSQL: """
                UPDATE users SET role = $1, updated_at = $2 WHERE id = $3 AND organization_id = $4 RETURNING \(Self.userColumns)
                """,
            binds: try Self.binds(role.rawValue, at.timestamp, id.uuid, organization.uuid))
        return try await transaction { connection in
            guard let row = try await Self.rows(try await connection.query(update, logger: self.logger)).first else {
                throw StoreError.notFound
            }
            try await Self.insert(audit, on: connection, logger: self.logger)
            return try Self.user(from: row)
        }
    }

    public func bindSSOSubject(id: UserID, subject: String, at: Date) async throws -> User {
        // Only a user without a subject takes one; a subject held by another user fails the UNIQUE constraint. A
        // concurrent bind of the same user makes the UPDATE match nothing once it commits, and the SELECT (a new
        // snapshot) then sees which subject won.
        let bind = PostgresQuery(
            unsafeSQL: """
                UPDATE users SET sso_subject = $1, updated_at = $2 WHERE id = $3 AND sso_subject IS NULL RETURNING \(Self.userColumns)
                """,
            binds: try Self.binds(subject, at.timestamp, id.uuid))
        let current = PostgresQuery(unsafeSQL: "SELECT \(Self.userColumns) FROM users WHERE id = $1", binds: try Self.binds(id.uuid))
        return try await transaction { connection in
            if let row = try await Self.rows(try await connection.query(bind, logger: self.logger)).first {
                return try Self.user(from: row)
            }
            guard let row = try await Self.rows(try await connection.query(current, logger: self.logger)).first else {
                throw StoreError.notFound
            }
            let user = try Self.user(from: row)
            guard user.ssoSubject == subject else { throw StoreError.alreadyExists }
            return user
        }
    }

    public func deleteUser(id: UserID, organization: OrganizationID, audit: AuditEvent) async throws {
        try await transaction { connection in
            // Sessions and sign-in links go with the user (ON DELETE CASCADE).
            let deleted = try await Self.rows(
                try await connection.query(
                    "DELETE FROM users WHERE id = \(id.uuid) AND organization_id = \(organization.uuid) RETURNING id", logger: self.logger))
            guard !deleted.isEmpty else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    private static let sessionColumns = "digest, user_id, organization_id, created_at, expires_at, source_ip, method"

    public func createSession(_ session: ConsoleSession, audit: AuditEvent) async throws {
        try await transaction { connection in
            let signedIn = try await Self.rows(
                try await connection.query(
                    """
                    UPDATE users SET last_sign_in_at = \(session.createdAt.timestamp)
                    WHERE id = \(session.userID.uuid) AND organization_id = \(session.organizationID.uuid) RETURNING id
                    """,
                    logger: self.logger))
            guard !signedIn.isEmpty else { throw StoreError.notFound }
            try await connection.query(
                """
                INSERT INTO console_sessions (digest, user_id, organization_id, created_at, expires_at, source_ip, method)
                VALUES (\(session.digest.storageString), \(session.userID.uuid), \(session.organizationID.uuid),
                    \(session.createdAt.timestamp), \(session.expiresAt.timestamp), \(session.sourceIP), \(session.method.rawValue))
                """,
                logger: self.logger)
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func session(digest: SecretDigest) async throws -> ConsoleSession? {
        try await read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.sessionColumns) FROM console_sessions WHERE digest = $1", binds: try Self.binds(digest.storageString))
        ).first.map(Self.session(from:))
    }

    public func deleteSession(digest: SecretDigest, audit: AuditEvent) async throws {
        try await transaction { connection in
            let deleted = try await Self.rows(
                try await connection.query(
                    "DELETE FROM console_sessions WHERE digest = \(digest.storageString) RETURNING digest", logger: self.logger))
            guard !deleted.isEmpty else { throw StoreError.notFound }
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func deleteExpiredConsoleRecords(before instant: Date) async throws -> Int {
        try await transaction { connection in
            let counted = try await Self.rows(
                try await connection.query(
                    """
                    WITH sessions AS (DELETE FROM console_sessions WHERE expires_at < \(instant.timestamp) RETURNING 1),
                        links AS (DELETE FROM sign_in_links WHERE expires_at < \(instant.timestamp) RETURNING 1)
                    SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM links) AS n
                    """,
                    logger: self.logger))
            return try counted.first?["n"].decode(Int.self) ?? 0
        }
    }

    private static let signInLinkColumns = "digest, user_id, organization_id, created_at, expires_at, used_at"

    public func createSignInLink(_ link: SignInLink, audit: AuditEvent) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO sign_in_links (digest, user_id, organization_id, created_at, expires_at, used_at)
                VALUES (\(link.digest.storageString), \(link.userID.uuid), \(link.organizationID.uuid), \(link.createdAt.timestamp),
                    \(link.expiresAt.timestamp), \(link.usedAt?.timestamp))
                """,
                logger: self.logger)
            try await Self.insert(audit, on: connection, logger: self.logger)
        }
    }

    public func signInLink(digest: SecretDigest) async throws -> SignInLink? {
        try await read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.signInLinkColumns) FROM sign_in_links WHERE digest = $1", binds: try Self.binds(digest.storageString))
        ).first.map(Self.signInLink(from:))
    }

    public func consumeSignInLink(digest: SecretDigest, at: Date) async throws -> SignInLink? {
        // One conditional UPDATE: a concurrent call waits for the row lock, then finds `used_at` set and matches nothing.
        let consume = PostgresQuery(
            unsafeSQL: """
                UPDATE sign_in_links SET used_at = $1 WHERE digest = $2 AND used_at IS NULL AND expires_at > $1
                RETURNING \(Self.signInLinkColumns)
                """,
            binds: try Self.binds(at.timestamp, digest.storageString))
        return try await transaction { connection in
            try await Self.rows(try await connection.query(consume, logger: self.logger)).first.map(Self.signInLink(from:))
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
            VALUES (\(event.id), \(event.organizationID.uuid), \(event.occurredAt.timestamp), \(event.actor), \(event.action.rawValue),
                \(event.targetType), \(event.targetID), \(event.sourceIP), \(event.requestID), \(event.outcome), \(details)::jsonb)
            """,
            logger: logger)
    }

    public func recordAuditEvent(_ event: AuditEvent) async throws {
        try await transaction { connection in try await Self.insert(event, on: connection, logger: self.logger) }
    }

    public func listAuditEvents(organization: OrganizationID, filter: AuditFilter, after cursor: AuditCursor?, limit: Int) async throws
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
        if let actor = filter.actor {
            binds.append(actor)
            sql += " AND actor = $\(binds.count)"
        }
        if let targetID = filter.targetID {
            binds.append(targetID)
            sql += " AND target_id = $\(binds.count)"
        }
        if let action = filter.action {
            binds.append(action.rawValue)
            sql += " AND action = $\(binds.count)"
        }
        if let since = filter.since {
            binds.append(since.timestamp)
            sql += " AND occurred_at >= $\(binds.count)"
        }
        if let until = filter.until {
            binds.append(until.timestamp)
            sql += " AND occurred_at < $\(binds.count)"
        }
        if let cursor {
            binds.append(cursor.sequence)
            sql += " AND seq < $\(binds.count)"
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

    // MARK: Service credentials

    public func createServiceCredential(_ credential: ServiceCredentialRecord) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO service_credentials (id, kind, name, digest, created_at)
                VALUES (\(credential.id), \(credential.kind.rawValue), \(credential.name), \(credential.digest.storageString),
                    \(credential.createdAt.timestamp))
                """,
                logger: self.logger)
        }
    }

    public func serviceCredentials() async throws -> [ServiceCredentialRecord] {
        try await read("SELECT id, kind, name, digest, created_at FROM service_credentials ORDER BY created_at, id").map { row in
            guard let kind = ServiceCredential.Kind(rawValue: try row["kind"].decode(String.self)),
                let digest = SecretDigest(storageString: try row["digest"].decode(String.self))
            else { throw StoreError.corrupt("unreadable service credential") }
            return ServiceCredentialRecord(
                id: try row["id"].decode(UUID.self), kind: kind, name: try row["name"].decode(String.self), digest: digest,
                createdAt: try row["created_at"].decode(Date.self))
        }
    }

    public func deleteServiceCredential(id: UUID) async throws {
        try await transaction { connection in
            let deleted = try await Self.rows(
                try await connection.query("DELETE FROM service_credentials WHERE id = \(id) RETURNING id", logger: self.logger))
            guard !deleted.isEmpty else { throw StoreError.notFound }
        }
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
                VALUES (\(key.kid), \(key.algorithm), \(ByteBuffer(bytes: key.sealedPrivateKey)), \(key.createdAt.timestamp), \(key.retiredAt?.timestamp))
                """,
                logger: self.logger)
        }
    }

    public func rotateSigningKey(to key: SigningKeyRecord) async throws {
        try await transaction { connection in
            try await connection.query(
                "UPDATE signing_keys SET retired_at = \(key.createdAt.timestamp) WHERE retired_at IS NULL", logger: self.logger)
            try await connection.query(
                """
                INSERT INTO signing_keys (kid, algorithm, sealed_private_key, created_at, retired_at)
                VALUES (\(key.kid), \(key.algorithm), \(ByteBuffer(bytes: key.sealedPrivateKey)), \(key.createdAt.timestamp), NULL)
                """,
                logger: self.logger)
            try await connection.query("SELECT pg_notify(\(Self.changeChannel), \(Self.signingKeysPayload))", logger: self.logger)
        }
    }

    /// The notification payload that announces rotated signing keys (never a token ID: IDs are base62 only).
    static let signingKeysPayload = "signing-keys"

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
            createdAt: try row["created_at"].decode(Date.self),
            policy: TokenPolicy(
                maximumLifetime: try row["max_token_lifetime_seconds"].decode(Double?.self),
                requireExpiry: try row["require_expiry"].decode(Bool.self)))
    }

    /// The stored form of an IP fence, as text for a `::jsonb` cast: a JSON array, or `nil` (NULL) for none.
    private static func cidrs(_ cidrs: [String]) throws -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return cidrs.isEmpty ? nil : String(decoding: try encoder.encode(cidrs), as: UTF8.self)
    }

    private static func token(from row: PostgresRandomAccessRow) throws -> APIToken {
        guard let id = TokenID(try row["id"].decode(String.self)), let name = try? TokenName(try row["name"].decode(String.self)),
            let role = Role(rawValue: try row["role"].decode(String.self)),
            let digest = SecretDigest(storageString: try row["secret_digest"].decode(String.self))
        else { throw StoreError.corrupt("unreadable token row") }
        var allowedCIDRs: [String] = []
        if let stored = try row["allowed_cidrs"].decode(String?.self) {
            guard let parsed = try? JSONDecoder().decode([String].self, from: Data(stored.utf8)) else {
                throw StoreError.corrupt("unreadable token row")
            }
            allowedCIDRs = parsed
        }
        var previousSecret: PreviousSecret?
        if let stored = try row["previous_secret_digest"].decode(String?.self) {
            guard let previousDigest = SecretDigest(storageString: stored),
                let generation = try row["previous_secret_generation"].decode(Int?.self),
                let validUntil = try row["previous_secret_valid_until"].decode(Date?.self)
            else { throw StoreError.corrupt("unreadable token row") }
            previousSecret = PreviousSecret(
                digest: previousDigest, generation: generation, validUntil: validUntil,
                lastUsedAt: try row["previous_secret_last_used_at"].decode(Date?.self))
        }
        return APIToken(
            id: id, organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)), name: name, role: role,
            secretDigest: digest, secretGeneration: try row["secret_generation"].decode(Int.self),
            createdAt: try row["created_at"].decode(Date.self), updatedAt: try row["updated_at"].decode(Date.self),
            secretRotatedAt: try row["secret_rotated_at"].decode(Date.self), lastUsedAt: try row["last_used_at"].decode(Date?.self),
            lastUsedIP: try row["last_used_ip"].decode(String?.self), lastUsedUserAgent: try row["last_used_user_agent"].decode(String?.self),
            secretLastUsedAt: try row["secret_last_used_at"].decode(Date?.self), expiresAt: try row["expires_at"].decode(Date?.self),
            allowedCIDRs: allowedCIDRs, previousSecret: previousSecret, createdBy: try row["created_by"].decode(String.self))
    }

    private static func cluster(from row: PostgresRandomAccessRow) throws -> Cluster {
        guard let name = try? ClusterName(try row["name"].decode(String.self)) else { throw StoreError.corrupt("unreadable cluster row") }
        var digest: SecretDigest?
        if let stored = try row["webhook_credential_digest"].decode(String?.self) {
            guard let parsed = SecretDigest(storageString: stored) else { throw StoreError.corrupt("unreadable cluster row") }
            digest = parsed
        }
        return Cluster(
            id: ClusterID(try row["id"].decode(UUID.self)), organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)),
            name: name, apiEndpoint: try row["api_endpoint"].decode(String.self), caBundle: try row["ca_bundle"].decode(String?.self),
            webhookCredentialDigest: digest, createdAt: try row["created_at"].decode(Date.self),
            updatedAt: try row["updated_at"].decode(Date.self), createdBy: try row["created_by"].decode(String.self))
    }

    private static func user(from row: PostgresRandomAccessRow) throws -> User {
        guard let email = try? EmailAddress(try row["email"].decode(String.self)), let role = Role(rawValue: try row["role"].decode(String.self))
        else { throw StoreError.corrupt("unreadable user row") }
        return User(
            id: UserID(try row["id"].decode(UUID.self)), organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)),
            email: email, role: role, ssoSubject: try row["sso_subject"].decode(String?.self), createdAt: try row["created_at"].decode(Date.self),
            updatedAt: try row["updated_at"].decode(Date.self), createdBy: try row["created_by"].decode(String.self),
            lastSignInAt: try row["last_sign_in_at"].decode(Date?.self))
    }

    private static func session(from row: PostgresRandomAccessRow) throws -> ConsoleSession {
        guard let digest = SecretDigest(storageString: try row["digest"].decode(String.self)),
            let method = SignInMethod(rawValue: try row["method"].decode(String.self))
        else { throw StoreError.corrupt("unreadable console session row") }
        return ConsoleSession(
            digest: digest, userID: UserID(try row["user_id"].decode(UUID.self)),
            organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)), createdAt: try row["created_at"].decode(Date.self),
            expiresAt: try row["expires_at"].decode(Date.self), sourceIP: try row["source_ip"].decode(String?.self),
            method: method)
    }

    private static func signInLink(from row: PostgresRandomAccessRow) throws -> SignInLink {
        guard let digest = SecretDigest(storageString: try row["digest"].decode(String.self)) else {
            throw StoreError.corrupt("unreadable sign-in link row")
        }
        return SignInLink(
            digest: digest, userID: UserID(try row["user_id"].decode(UUID.self)),
            organizationID: OrganizationID(try row["organization_id"].decode(UUID.self)), createdAt: try row["created_at"].decode(Date.self),
            expiresAt: try row["expires_at"].decode(Date.self), usedAt: try row["used_at"].decode(Date?.self))
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
    public func followChanges(
        onSubscribed: @escaping @Sendable () -> Void, onChange: @escaping @Sendable (TokenID) -> Void,
        onSigningKeysChange: @escaping @Sendable () -> Void, onLost: @escaping @Sendable () -> Void
    ) async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await self.client.withConnection { connection in
                    try await connection.listen(on: Self.changeChannel) { notifications in
                        onSubscribed()
                        delay = .milliseconds(100)
                        for try await notification in notifications {
                            if notification.payload == Self.signingKeysPayload {
                                onSigningKeysChange()
                            } else if let id = TokenID(notification.payload) {
                                onChange(id)
                            }
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

/// A continuation resumed by whichever comes first, the answer or the timeout.
private final class PendingAnswer<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var deadline: UInt64?
        var answered = false
    }

    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Notes the operation's deadline entry; `false` when the answer is already in (the caller removes it).
    func setDeadline(_ id: UInt64) -> Bool {
        state.withLock { state in
            guard !state.answered else { return false }
            state.deadline = id
            return true
        }
    }

    /// The waiting continuation for whoever answers first (`nil` for the other), with the deadline entry to remove.
    func take() -> (continuation: CheckedContinuation<T, any Error>?, deadline: UInt64?) {
        state.withLock { state in
            state.answered = true
            return (state.continuation.take(), state.deadline.take())
        }
    }
}

/// The deadlines of the store operations in flight, enforced by one watchdog task (``watch(every:)``) instead
/// of a timer per operation. An operation times out between its deadline and one interval after it.
final class OperationDeadlines: Sendable {
    private struct Entry {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct State {
        var nextID: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
    }

    private let state = Mutex(State())

    /// Registers `expire` to run once `deadline` has passed, unless ``remove(_:)`` comes first.
    func add(_ deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { state in
            state.nextID &+= 1
            state.entries[state.nextID] = Entry(deadline: deadline, expire: expire)
            return state.nextID
        }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// The deadlines still registered.
    var count: Int { state.withLock { $0.entries.count } }

    /// Runs (and forgets) the expiry of every entry whose deadline is `now` or earlier.
    func expire(at now: ContinuousClock.Instant) {
        let due = state.withLock { state -> [Entry] in
            let due = state.entries.filter { $0.value.deadline <= now }
            for id in due.keys { state.entries.removeValue(forKey: id) }
            return Array(due.values)
        }
        for entry in due { entry.expire() }
    }

    /// New deadlines and the task that watches them, to cancel when the store closes.
    static func watched() -> (OperationDeadlines, Task<Void, Never>) {
        let deadlines = OperationDeadlines()
        return (deadlines, Task { await deadlines.watch() })
    }

    /// Checks the deadlines every `interval` until the task is cancelled.
    func watch(every interval: Duration = .milliseconds(100)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            expire(at: .now)
        }
    }
}
