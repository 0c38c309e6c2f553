import CloudfleetCore
import CloudfleetStore
import Foundation

/// Builders of valid records for the conformance cases.
enum Fixtures {
    static let hasher = SecretHasher(serverKey: ServerKey.generate())

    /// A time with whole microseconds, the precision every store keeps.
    static func now(offset: TimeInterval = 0) -> Date {
        Date(timeIntervalSince1970: ((Date().timeIntervalSince1970 + offset) * 1_000_000).rounded() / 1_000_000)
    }

    static func organization(_ name: String = "Acme") -> Organization {
        Organization(id: .generate(), name: name, createdAt: now())
    }

    static func audit(_ organization: OrganizationID, _ action: AuditAction, target: String, targetType: String = "token") -> AuditEvent {
        AuditEvent(
            organizationID: organization, occurredAt: now(), actor: "conformance", action: action, targetType: targetType,
            targetID: target, sourceIP: "192.0.2.1", requestID: "req-1", details: ["k": "v"]
        )
    }

    static func token(
        _ organization: OrganizationID, id: TokenID = .generate(), name: String = "ci", role: Role = .user,
        createdAt: Date = now()
    ) throws -> APIToken {
        APIToken(
            id: id, organizationID: organization, name: try TokenName(name), role: role,
            secretDigest: hasher.digest(TokenSecret.generate()), createdAt: createdAt, createdBy: "conformance"
        )
    }

    /// Creates an organization with `audit` recorded, returning it.
    static func makeOrganization(in store: some Store, _ name: String = "Acme") async throws -> Organization {
        let organization = organization(name)
        try await store.createOrganization(
            organization, audit: audit(organization.id, .organizationCreate, target: organization.id.description))
        return organization
    }

    /// Creates a token with its audit event, returning it.
    @discardableResult
    static func makeToken(
        in store: some Store, _ organization: OrganizationID, id: TokenID = .generate(),
        role: Role = .user, createdAt: Date = now()
    ) async throws -> APIToken {
        let token = try token(organization, id: id, role: role, createdAt: createdAt)
        try await store.createToken(token, audit: audit(organization, .tokenCreate, target: token.id.rawValue))
        return token
    }

    /// Stores `token` as it is, with its audit event.
    static func create(_ token: APIToken, in store: some Store) async throws {
        try await store.createToken(token, audit: audit(token.organizationID, .tokenCreate, target: token.id.rawValue))
    }

    /// An audit event about a cluster.
    static func clusterAudit(_ organization: OrganizationID, _ action: AuditAction, _ cluster: ClusterID) -> AuditEvent {
        audit(organization, action, target: cluster.description, targetType: "cluster")
    }

    /// A cluster; its name defaults to one derived from its ID, so it is unique.
    static func cluster(
        _ organization: OrganizationID, id: ClusterID = .generate(), name: String? = nil,
        apiEndpoint: String = "https://k8s.example.com:6443", caBundle: String? = nil,
        webhookCredentialDigest: SecretDigest? = nil, createdAt: Date = now(), updatedAt: Date? = nil
    ) throws -> Cluster {
        Cluster(
            id: id, organizationID: organization, name: try ClusterName(name ?? "c-" + id.description), apiEndpoint: apiEndpoint,
            caBundle: caBundle, webhookCredentialDigest: webhookCredentialDigest, createdAt: createdAt, updatedAt: updatedAt,
            createdBy: "conformance"
        )
    }

    /// Creates a cluster with its audit event, returning it.
    @discardableResult
    static func makeCluster(
        in store: some Store, _ organization: OrganizationID, id: ClusterID = .generate(), name: String? = nil,
        createdAt: Date = now()
    ) async throws -> Cluster {
        let cluster = try cluster(organization, id: id, name: name, createdAt: createdAt)
        try await store.createCluster(cluster, audit: clusterAudit(organization, .clusterCreate, cluster.id))
        return cluster
    }
}

func sameInstant(_ lhs: Date?, _ rhs: Date?) -> Bool {
    switch (lhs, rhs) {
    case (nil, nil): true
    case (let lhs?, let rhs?): abs(lhs.timeIntervalSince(rhs)) < 0.000_001
    default: false
    }
}

/// Equal tokens, comparing times to the microsecond (a store may convert them through another representation).
func sameToken(_ lhs: APIToken?, _ rhs: APIToken?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    var left = lhs
    for (path, other) in [(\APIToken.createdAt, rhs.createdAt), (\.updatedAt, rhs.updatedAt), (\.secretRotatedAt, rhs.secretRotatedAt)] {
        guard sameInstant(left[keyPath: path], other) else { return false }
        left[keyPath: path] = other
    }
    for (path, other) in [(\APIToken.lastUsedAt, rhs.lastUsedAt), (\.secretLastUsedAt, rhs.secretLastUsedAt), (\.expiresAt, rhs.expiresAt)] {
        guard sameInstant(left[keyPath: path], other) else { return false }
        left[keyPath: path] = other
    }
    switch (left.previousSecret, rhs.previousSecret) {
    case (nil, nil):
        break
    case (var previous?, let other?):
        guard sameInstant(previous.validUntil, other.validUntil), sameInstant(previous.lastUsedAt, other.lastUsedAt) else { return false }
        previous.validUntil = other.validUntil
        previous.lastUsedAt = other.lastUsedAt
        left.previousSecret = previous
    default:
        return false
    }
    return left == rhs
}

/// Equal clusters, comparing times to the microsecond.
func sameCluster(_ lhs: Cluster?, _ rhs: Cluster?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    guard sameInstant(lhs.createdAt, rhs.createdAt), sameInstant(lhs.updatedAt, rhs.updatedAt) else { return false }
    var left = lhs
    left.createdAt = rhs.createdAt
    left.updatedAt = rhs.updatedAt
    return left == rhs
}
