import Foundation
import PostgresNIO

/// A hot read of the store: one statement by one key, prepared once on each connection of the pool instead of
/// parsed and planned by the database on every call. A token read on PostgreSQL took twice as long the other way
/// (bench/history.md). The SQL names its columns, so a later migration that adds a column leaves it valid.
protocol PreparedRead: PostgresPreparedStatement where Row == PostgresRandomAccessRow {
    associatedtype Key: PostgresEncodable & Sendable
    var key: Key { get }
}

extension PreparedRead {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        try bindings.append(key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow { row.makeRandomAccess() }
}

extension PostgresStore {
    /// A token by its ID: every request whose token is not cached, and every token read.
    struct TokenByID: PreparedRead {
        static var name: String { "cloudfleet_token_by_id" }
        static var sql: String { "SELECT \(PostgresStore.tokenColumns) FROM api_tokens WHERE id = $1" }
        let key: String
    }

    /// A token by the digest of its current or previous secret; the current secret's token first.
    struct TokenBySecretDigest: PreparedRead {
        static var name: String { "cloudfleet_token_by_secret_digest" }
        static var sql: String {
            """
            SELECT \(PostgresStore.tokenColumns) FROM api_tokens WHERE secret_digest = $1 OR previous_secret_digest = $1
            ORDER BY secret_digest = $1 DESC, id LIMIT 1
            """
        }
        let key: String
    }

    /// An organization by its ID.
    struct OrganizationByID: PreparedRead {
        static var name: String { "cloudfleet_organization_by_id" }
        static var sql: String { "SELECT \(PostgresStore.organizationColumns) FROM organizations WHERE id = $1" }
        let key: UUID
    }

    /// The kept token count of an organization (migration 5).
    struct TokenCountByOrganization: PreparedRead {
        static var name: String { "cloudfleet_token_count_by_organization" }
        static var sql: String { "SELECT n FROM token_counts WHERE organization_id = $1" }
        let key: UUID
    }

    /// A cluster by its ID: each webhook call whose cluster the directory does not hold.
    struct ClusterByID: PreparedRead {
        static var name: String { "cloudfleet_cluster_by_id" }
        static var sql: String { "SELECT \(PostgresStore.clusterColumns) FROM clusters WHERE id = $1" }
        let key: UUID
    }
}
