/// The versioned schema of the SQLite store. Each migration runs in its own transaction and is recorded in
/// `schema_migrations`; released migrations are never edited, only appended.
enum SQLiteMigrations {
    struct Migration {
        let version: Int
        let name: String
        let statements: [String]
    }

    static let all: [Migration] = [
        Migration(
            version: 1,
            name: "organizations, tokens, audit events, signing keys",
            statements: [
                """
                CREATE TABLE organizations (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT
                """,
                """
                CREATE TABLE api_tokens (
                    id TEXT PRIMARY KEY,
                    id_lower TEXT NOT NULL UNIQUE,
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('Administrator', 'User')),
                    secret_digest TEXT NOT NULL,
                    secret_generation INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    secret_rotated_at INTEGER NOT NULL,
                    last_used_at INTEGER,
                    last_used_ip TEXT,
                    expires_at INTEGER,
                    created_by TEXT NOT NULL
                ) STRICT
                """,
                "CREATE INDEX api_tokens_by_organization ON api_tokens (organization_id, created_at, id)",
                """
                CREATE TABLE audit_events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    organization_id TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target_type TEXT NOT NULL,
                    target_id TEXT NOT NULL,
                    source_ip TEXT,
                    request_id TEXT,
                    outcome TEXT NOT NULL,
                    details TEXT NOT NULL
                ) STRICT
                """,
                "CREATE INDEX audit_events_by_organization ON audit_events (organization_id, seq)",
                """
                CREATE TABLE signing_keys (
                    kid TEXT PRIMARY KEY,
                    algorithm TEXT NOT NULL,
                    sealed_private_key BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    retired_at INTEGER
                ) STRICT
                """,
            ]
        ),
        Migration(
            version: 2,
            name: "clusters",
            statements: [
                """
                CREATE TABLE clusters (
                    id TEXT PRIMARY KEY,
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    name TEXT NOT NULL,
                    api_endpoint TEXT NOT NULL,
                    ca_bundle TEXT,
                    webhook_credential_digest TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    created_by TEXT NOT NULL,
                    UNIQUE (organization_id, name)
                ) STRICT
                """,
                "CREATE INDEX clusters_by_organization ON clusters (organization_id, created_at, id)",
            ]
        ),
        Migration(
            version: 3,
            name: "token hygiene: last use, IP fences, previous secrets, token policies, audit filters, service credentials",
            statements: [
                "ALTER TABLE api_tokens ADD COLUMN last_used_user_agent TEXT",
                "ALTER TABLE api_tokens ADD COLUMN secret_last_used_at INTEGER",
                // A JSON array of CIDR strings; NULL (or '[]') for no fence.
                "ALTER TABLE api_tokens ADD COLUMN allowed_cidrs TEXT",
                "ALTER TABLE api_tokens ADD COLUMN previous_secret_digest TEXT",
                "ALTER TABLE api_tokens ADD COLUMN previous_secret_generation INTEGER",
                "ALTER TABLE api_tokens ADD COLUMN previous_secret_valid_until INTEGER",
                "ALTER TABLE api_tokens ADD COLUMN previous_secret_last_used_at INTEGER",
                "CREATE INDEX api_tokens_by_secret_digest ON api_tokens (secret_digest)",
                """
                CREATE INDEX api_tokens_by_previous_secret_digest ON api_tokens (previous_secret_digest)
                WHERE previous_secret_digest IS NOT NULL
                """,
                "CREATE INDEX api_tokens_by_expiry ON api_tokens (organization_id, expires_at)",
                "CREATE INDEX api_tokens_by_last_use ON api_tokens (organization_id, last_used_at)",
                // Seconds, REAL so that any TimeInterval round-trips exactly; NULL for no limit.
                "ALTER TABLE organizations ADD COLUMN max_token_lifetime_seconds REAL",
                "ALTER TABLE organizations ADD COLUMN require_expiry INTEGER NOT NULL DEFAULT 0 CHECK (require_expiry IN (0, 1))",
                "CREATE INDEX audit_events_by_actor ON audit_events (organization_id, actor, seq)",
                "CREATE INDEX audit_events_by_target ON audit_events (organization_id, target_id, seq)",
                """
                CREATE TABLE service_credentials (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL
                ) STRICT
                """,
            ]
        ),
        Migration(
            version: 4,
            name: "console users, sessions and sign-in links",
            statements: [
                // Email addresses are unique across the installation and stored lower-cased (EmailAddress does it; the
                // CHECK keeps any other writer honest). (id, organization_id) is unique so that sessions and links
                // can reference both: a session can only name its user's own organization.
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
                    role TEXT NOT NULL CHECK (role IN ('Administrator', 'User')),
                    sso_subject TEXT UNIQUE,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    created_by TEXT NOT NULL,
                    last_sign_in_at INTEGER,
                    UNIQUE (id, organization_id)
                ) STRICT
                """,
                "CREATE INDEX users_by_organization ON users (organization_id, email, id)",
                """
                CREATE TABLE console_sessions (
                    digest TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    organization_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    source_ip TEXT,
                    method TEXT NOT NULL,
                    FOREIGN KEY (user_id, organization_id) REFERENCES users (id, organization_id) ON DELETE CASCADE
                ) STRICT
                """,
                "CREATE INDEX console_sessions_by_user ON console_sessions (user_id, organization_id)",
                "CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
                """
                CREATE TABLE sign_in_links (
                    digest TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    organization_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_at INTEGER,
                    FOREIGN KEY (user_id, organization_id) REFERENCES users (id, organization_id) ON DELETE CASCADE
                ) STRICT
                """,
                "CREATE INDEX sign_in_links_by_user ON sign_in_links (user_id, organization_id)",
                "CREATE INDEX sign_in_links_by_expiry ON sign_in_links (expires_at)",
            ]
        ),
        Migration(
            version: 5,
            name: "token counts kept per organization",
            statements: [
                // `GET /v1/organization` reports the organization's token count; counting the rows took 80 ms with a
                // million tokens. Triggers keep the count with every insert and delete, whoever writes them.
                """
                CREATE TABLE token_counts (
                    organization_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
                    n INTEGER NOT NULL CHECK (n >= 0)
                ) STRICT
                """,
                """
                CREATE TRIGGER api_tokens_counted_insert AFTER INSERT ON api_tokens BEGIN
                    INSERT INTO token_counts (organization_id, n) VALUES (NEW.organization_id, 1)
                    ON CONFLICT (organization_id) DO UPDATE SET n = n + 1;
                END
                """,
                """
                CREATE TRIGGER api_tokens_counted_delete AFTER DELETE ON api_tokens BEGIN
                    UPDATE token_counts SET n = n - 1 WHERE organization_id = OLD.organization_id;
                END
                """,
                "INSERT INTO token_counts (organization_id, n) SELECT organization_id, COUNT(*) FROM api_tokens GROUP BY organization_id",
            ]
        ),
        Migration(
            version: 6,
            name: "administrator tokens counted per organization",
            statements: [
                // `/metrics` reports the tokens of each role; counting the rows took 350 ms with a million tokens, on
                // every scrape, holding a reader connection. Roles are two, so the count of Administrators beside
                // `n` gives both. A column of the one row per organization, not a row per role: a role change
                // then moves one counter row, not two (docs/decisions.md).
                "ALTER TABLE token_counts ADD COLUMN administrators INTEGER NOT NULL DEFAULT 0 CHECK (administrators >= 0)",
                // An upsert, not an update: whichever of this and migration 5's trigger runs first makes the row.
                """
                CREATE TRIGGER api_tokens_administrator_added AFTER INSERT ON api_tokens WHEN NEW.role = 'Administrator' BEGIN
                    INSERT INTO token_counts (organization_id, n, administrators) VALUES (NEW.organization_id, 0, 1)
                    ON CONFLICT (organization_id) DO UPDATE SET administrators = administrators + 1;
                END
                """,
                """
                CREATE TRIGGER api_tokens_administrator_removed AFTER DELETE ON api_tokens WHEN OLD.role = 'Administrator' BEGIN
                    UPDATE token_counts SET administrators = administrators - 1 WHERE organization_id = OLD.organization_id;
                END
                """,
                """
                CREATE TRIGGER api_tokens_role_changed AFTER UPDATE OF role ON api_tokens WHEN OLD.role IS NOT NEW.role BEGIN
                    UPDATE token_counts SET administrators = administrators + (CASE WHEN NEW.role = 'Administrator' THEN 1 ELSE -1 END)
                    WHERE organization_id = NEW.organization_id;
                END
                """,
                """
                UPDATE token_counts SET administrators = (
                    SELECT COUNT(*) FROM api_tokens
                    WHERE api_tokens.organization_id = token_counts.organization_id AND api_tokens.role = 'Administrator')
                """,
            ]
        ),
    ]
}
