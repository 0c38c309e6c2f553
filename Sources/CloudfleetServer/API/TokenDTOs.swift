import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation

/// `POST /v1/tokens`.
struct CreateTokenRequest: Decodable {
    let name: String
    let role: String
    let expiresAt: Date?
    let allowedCIDRs: [String]?

    private enum CodingKeys: String, CodingKey {
        case name, role
        case expiresAt = "expires_at"
        case allowedCIDRs = "allowed_cidrs"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["name", "role", "expires_at", "allowed_cidrs"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try container.rejectNull([.expiresAt, .allowedCIDRs], codingPath: decoder.codingPath)
        self.name = try container.decode(String.self, forKey: .name)
        self.role = try container.decode(String.self, forKey: .role)
        self.expiresAt = try container.decodeIfPresent(String.self, forKey: .expiresAt).map { try parseTimestamp($0, field: "expires_at") }
        self.allowedCIDRs = try container.decodeIfPresent([String].self, forKey: .allowedCIDRs)
    }
}

/// `PATCH /v1/tokens/{id}`.
struct UpdateTokenRequest: Decodable {
    let name: String?
    let role: String?
    /// Absent: unchanged; `null`: no expiry; a timestamp: the new expiry.
    let expiresAt: Date??
    /// Absent: unchanged; `[]`: anywhere.
    let allowedCIDRs: [String]?

    private enum CodingKeys: String, CodingKey {
        case name, role
        case expiresAt = "expires_at"
        case allowedCIDRs = "allowed_cidrs"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["name", "role", "expires_at", "allowed_cidrs"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Absent means "leave as it is"; an explicit null is a mistake, not a request to clear the field, except for
        // expires_at, where null means "never expires".
        try container.rejectNull([.name, .role, .allowedCIDRs], codingPath: decoder.codingPath)
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.role = try container.decodeIfPresent(String.self, forKey: .role)
        if container.contains(.expiresAt) {
            self.expiresAt = .some(
                try container.decodeNil(forKey: .expiresAt)
                    ? nil : try parseTimestamp(container.decode(String.self, forKey: .expiresAt), field: "expires_at"))
        } else {
            self.expiresAt = nil
        }
        self.allowedCIDRs = try container.decodeIfPresent([String].self, forKey: .allowedCIDRs)
    }
}

/// `POST /v1/tokens/{id}/secret`, whose body is optional.
struct RegenerateRequest: Decodable {
    /// How long the previous secret stays valid, such as `1h`; absent means not at all.
    let gracePeriod: String?

    private enum CodingKeys: String, CodingKey {
        case gracePeriod = "grace_period"
    }

    init(gracePeriod: String? = nil) {
        self.gracePeriod = gracePeriod
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["grace_period"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try container.rejectNull([.gracePeriod], codingPath: decoder.codingPath)
        self.gracePeriod = try container.decodeIfPresent(String.self, forKey: .gracePeriod)
    }
}

/// An RFC 3339 timestamp (with or without fractional seconds).
func parseTimestamp(_ text: String, field: String) throws -> Date {
    let invalid = ValidationError(field: field, reason: "must be an RFC 3339 timestamp such as 2027-01-31T00:00:00Z")
    // Foundation rolls impossible dates over (2027-02-30 becomes 2027-03-02); refuse them instead.
    let dateParts = text.prefix(10).split(separator: "-").compactMap { Int($0) }
    guard dateParts.count == 3,
        DateComponents(year: dateParts[0], month: dateParts[1], day: dateParts[2]).isValidDate(in: Calendar(identifier: .gregorian))
    else { throw invalid }
    if let date = try? Date(text, strategy: .iso8601) { return date }
    if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
    throw invalid
}

/// Parses a role as the API accepts it: exactly `Administrator` or `User`.
func parseRole(_ value: String) throws(ValidationError) -> Role {
    guard let role = Role(rawValue: value) else {
        throw ValidationError(field: "role", reason: "must be Administrator or User")
    }
    return role
}

extension Token {
    /// The API form of a stored token: never its secret or digest. The previous secret shows only while it is
    /// still accepted at `now`.
    init(_ token: APIToken, rotation: SecretRotation, now: Date) {
        let previousValidUntil = rotation.previousValidUntil(token, now: now)
        self.init(
            id: token.id.rawValue, name: token.name.rawValue, role: token.role.rawValue, organizationID: token.organizationID.description,
            kubernetesUsername: token.id.kubernetesUsername, secretGeneration: token.secretGeneration, createdAt: token.createdAt,
            updatedAt: token.updatedAt, secretRotatedAt: token.secretRotatedAt, lastUsedAt: token.lastUsedAt, lastUsedIP: token.lastUsedIP,
            lastUsedUserAgent: token.lastUsedUserAgent, secretLastUsedAt: token.secretLastUsedAt, expiresAt: token.expiresAt,
            allowedCIDRs: token.allowedCIDRs, previousSecretValidUntil: previousValidUntil,
            previousSecretLastUsedAt: previousValidUntil == nil ? nil : token.previousSecret?.lastUsedAt, createdBy: token.createdBy)
    }
}

extension TokenWithSecret {
    /// A token just created or regenerated, with the only copy of its secret.
    init(_ issued: TokenService.IssuedSecret, rotation: SecretRotation, now: Date) {
        self.init(token: Token(issued.token, rotation: rotation, now: now), secret: issued.secret.reveal)
    }
}

extension AuditEventInfo {
    /// The API form of an audit event.
    init(_ event: AuditEvent) {
        self.init(
            id: event.id.uuidString.lowercased(), occurredAt: event.occurredAt, actor: event.actor, action: event.action.rawValue,
            targetType: event.targetType, targetID: event.targetID, sourceIP: event.sourceIP, requestID: event.requestID,
            outcome: event.outcome, details: event.details)
    }
}
