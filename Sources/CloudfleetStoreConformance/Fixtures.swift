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

    static func audit(_ organization: OrganizationID, _ action: AuditAction, target: String) -> AuditEvent {
        AuditEvent(
            organizationID: organization, occurredAt: now(), actor: "conformance", action: action, targetType: "token",
            targetID: target, sourceIP: "192.0.2.1", requestID: "req-1", details: ["k": "v"]
        )
    }

    static func token(
        _ organization: OrganizationID, id: TokenID = .generate(), name: String = "ci", role: Role = .user,
        createdAt: Date = now()
    ) throws -> APIToken {
        APIToken(
            id: id, organizationID: organization, name: try TokenName(name), role: role,
            secretDigest: hasher.digest(.generate()), createdAt: createdAt, createdBy: "conformance"
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
    guard sameInstant(left.lastUsedAt, rhs.lastUsedAt), sameInstant(left.expiresAt, rhs.expiresAt) else { return false }
    left.lastUsedAt = rhs.lastUsedAt
    left.expiresAt = rhs.expiresAt
    return left == rhs
}
