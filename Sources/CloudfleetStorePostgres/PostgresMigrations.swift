import PostgresNIO

/// The versioned schema of the PostgreSQL store. Each migration runs in its own transaction under an advisory
/// lock, so several nodes starting at once apply each migration exactly once; released migrations are never
/// edited, only appended.
enum PostgresMigrations {
    struct Migration {
        let version: Int
        let name: String
        let statements: [PostgresQuery]
    }

    /// The advisory lock key that serialises migrations across nodes ("cfmigr" in ASCII).
    static let lockKey: Int64 = 0x6366_6D69_6772

    static let all: [Migration] = [
        Migration(
            version: 1,
            name: "organizations, tokens, audit events, signing keys",
            statements: [
                """
                CREATE TABLE organizations (
                    id UUID PRIMARY KEY,
                    name TEXT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL
                )
                """,
                """
                CREATE TABLE api_tokens (
                    id TEXT PRIMARY KEY,
                    id_lower TEXT NOT NULL UNIQUE,
                    organization_id UUID NOT NULL REFERENCES organizations(id),
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('Administrator', 'User')),
                    secret_digest TEXT NOT NULL,
                    secret_generation BIGINT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL,
                    secret_rotated_at TIMESTAMPTZ NOT NULL,
                    last_used_at TIMESTAMPTZ,
                    last_used_ip TEXT,
                    expires_at TIMESTAMPTZ,
                    created_by TEXT NOT NULL
                )
                """,
                "CREATE INDEX api_tokens_by_organization ON api_tokens (organization_id, created_at, id)",
                """
                CREATE TABLE audit_events (
                    seq BIGSERIAL PRIMARY KEY,
                    id UUID NOT NULL UNIQUE,
                    organization_id UUID NOT NULL,
                    occurred_at TIMESTAMPTZ NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target_type TEXT NOT NULL,
                    target_id TEXT NOT NULL,
                    source_ip TEXT,
                    request_id TEXT,
                    outcome TEXT NOT NULL,
                    details JSONB NOT NULL
                )
                """,
                "CREATE INDEX audit_events_by_organization ON audit_events (organization_id, seq)",
                """
                CREATE TABLE signing_keys (
                    kid TEXT PRIMARY KEY,
                    algorithm TEXT NOT NULL,
                    sealed_private_key BYTEA NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    retired_at TIMESTAMPTZ
                )
                """,
            ]
        ),
        Migration(
            version: 2,
            name: "clusters",
            statements: [
                """
                CREATE TABLE clusters (
                    id UUID PRIMARY KEY,
                    organization_id UUID NOT NULL REFERENCES organizations(id),
                    name TEXT NOT NULL,
                    api_endpoint TEXT NOT NULL,
                    ca_bundle TEXT,
                    webhook_credential_digest TEXT,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL,
                    created_by TEXT NOT NULL,
                    UNIQUE (organization_id, name)
                )
                """,
                "CREATE INDEX clusters_by_organization ON clusters (organization_id, created_at, id)",
            ]
        ),
    ]
}
