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
    ]
}
