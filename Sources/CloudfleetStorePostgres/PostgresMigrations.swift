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
        Migration(
            version: 3,
            name: "token hygiene: last use, IP fences, previous secrets, token policies, audit filters, service credentials",
            statements: [
                """
                ALTER TABLE api_tokens
                    ADD COLUMN last_used_user_agent TEXT,
                    ADD COLUMN secret_last_used_at TIMESTAMPTZ,
                    ADD COLUMN allowed_cidrs JSONB,
                    ADD COLUMN previous_secret_digest TEXT,
                    ADD COLUMN previous_secret_generation BIGINT,
                    ADD COLUMN previous_secret_valid_until TIMESTAMPTZ,
                    ADD COLUMN previous_secret_last_used_at TIMESTAMPTZ
                """,
                "CREATE INDEX api_tokens_by_secret_digest ON api_tokens (secret_digest)",
                """
                CREATE INDEX api_tokens_by_previous_secret_digest ON api_tokens (previous_secret_digest)
                WHERE previous_secret_digest IS NOT NULL
                """,
                "CREATE INDEX api_tokens_by_expiry ON api_tokens (organization_id, expires_at)",
                "CREATE INDEX api_tokens_by_last_use ON api_tokens (organization_id, last_used_at)",
                // Seconds as a double, so that any TimeInterval round-trips exactly; NULL for no limit.
                """
                ALTER TABLE organizations
                    ADD COLUMN max_token_lifetime_seconds DOUBLE PRECISION,
                    ADD COLUMN require_expiry BOOLEAN NOT NULL DEFAULT false
                """,
                "CREATE INDEX audit_events_by_actor ON audit_events (organization_id, actor, seq)",
                "CREATE INDEX audit_events_by_target ON audit_events (organization_id, target_id, seq)",
                """
                CREATE TABLE service_credentials (
                    id UUID PRIMARY KEY,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL UNIQUE,
                    created_at TIMESTAMPTZ NOT NULL
                )
                """,
            ]
        ),
        Migration(
            version: 4,
            name: "console users, sessions and sign-in links",
            statements: [
                // Email addresses are unique across the installation and stored lower-cased (EmailAddress does it; the
                // CHECK keeps any other writer honest). COLLATE "C" orders them byte by byte, as the user list and its
                // cursor compare them, whatever the database's locale. (id, organization_id) is unique so that sessions
                // and links can reference both: a session can only name its user's own organization.
                """
                CREATE TABLE users (
                    id UUID PRIMARY KEY,
                    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    email TEXT COLLATE "C" NOT NULL UNIQUE CHECK (email = lower(email)),
                    role TEXT NOT NULL CHECK (role IN ('Administrator', 'User')),
                    sso_subject TEXT UNIQUE,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL,
                    created_by TEXT NOT NULL,
                    last_sign_in_at TIMESTAMPTZ,
                    UNIQUE (id, organization_id)
                )
                """,
                "CREATE INDEX users_by_organization ON users (organization_id, email, id)",
                """
                CREATE TABLE console_sessions (
                    digest TEXT PRIMARY KEY,
                    user_id UUID NOT NULL,
                    organization_id UUID NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL,
                    source_ip TEXT,
                    method TEXT NOT NULL,
                    FOREIGN KEY (user_id, organization_id) REFERENCES users (id, organization_id) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX console_sessions_by_user ON console_sessions (user_id, organization_id)",
                "CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
                """
                CREATE TABLE sign_in_links (
                    digest TEXT PRIMARY KEY,
                    user_id UUID NOT NULL,
                    organization_id UUID NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL,
                    used_at TIMESTAMPTZ,
                    FOREIGN KEY (user_id, organization_id) REFERENCES users (id, organization_id) ON DELETE CASCADE
                )
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
                // million tokens. Triggers keep the count with every insert and delete, whoever writes them. One row
                // per organization, so a transaction that creates or deletes a token locks one counter row.
                """
                CREATE TABLE token_counts (
                    organization_id UUID PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
                    n BIGINT NOT NULL CHECK (n >= 0)
                )
                """,
                """
                CREATE FUNCTION count_api_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        INSERT INTO token_counts (organization_id, n) VALUES (NEW.organization_id, 1)
                        ON CONFLICT (organization_id) DO UPDATE SET n = token_counts.n + 1;
                    ELSE
                        UPDATE token_counts SET n = n - 1 WHERE organization_id = OLD.organization_id;
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                // The trigger locks api_tokens against writes until this migration commits, so the count below misses
                // no token another node inserts meanwhile.
                "CREATE TRIGGER api_tokens_counted AFTER INSERT OR DELETE ON api_tokens FOR EACH ROW EXECUTE FUNCTION count_api_tokens()",
                "INSERT INTO token_counts (organization_id, n) SELECT organization_id, COUNT(*) FROM api_tokens GROUP BY organization_id",
            ]
        ),
        Migration(
            version: 6,
            name: "administrator tokens counted per organization",
            statements: [
                // `/metrics` reports the tokens of each role; counting the rows scanned the whole table on every
                // scrape. Roles are two, so the count of Administrators beside `n` gives both. A column of the one
                // row per organization, not a row per role: a role change then locks one counter row, and two
                // opposite changes cannot deadlock.
                "ALTER TABLE token_counts ADD COLUMN administrators BIGINT NOT NULL DEFAULT 0 CHECK (administrators >= 0)",
                """
                CREATE FUNCTION count_administrator_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        -- An upsert: whichever of this and migration 5's trigger runs first makes the row.
                        INSERT INTO token_counts (organization_id, n, administrators) VALUES (NEW.organization_id, 0, 1)
                        ON CONFLICT (organization_id) DO UPDATE SET administrators = token_counts.administrators + 1;
                    ELSIF TG_OP = 'DELETE' THEN
                        UPDATE token_counts SET administrators = administrators - 1 WHERE organization_id = OLD.organization_id;
                    ELSE
                        UPDATE token_counts SET administrators = administrators + CASE WHEN NEW.role = 'Administrator' THEN 1 ELSE -1 END
                        WHERE organization_id = NEW.organization_id;
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                // As in migration 5, the triggers lock api_tokens against writes until this migration commits, so the
                // count below misses no change another node makes meanwhile.
                """
                CREATE TRIGGER api_tokens_administrator_added AFTER INSERT ON api_tokens
                FOR EACH ROW WHEN (NEW.role = 'Administrator') EXECUTE FUNCTION count_administrator_tokens()
                """,
                """
                CREATE TRIGGER api_tokens_administrator_removed AFTER DELETE ON api_tokens
                FOR EACH ROW WHEN (OLD.role = 'Administrator') EXECUTE FUNCTION count_administrator_tokens()
                """,
                """
                CREATE TRIGGER api_tokens_role_changed AFTER UPDATE OF role ON api_tokens
                FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role) EXECUTE FUNCTION count_administrator_tokens()
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
