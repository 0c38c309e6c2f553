import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation

/// `POST /v1/tokens`.
struct CreateTokenRequest: Decodable {
    let name: String
    let role: String

    private enum CodingKeys: String, CodingKey { case name, role }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["name", "role"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.role = try container.decode(String.self, forKey: .role)
    }
}

/// `PATCH /v1/tokens/{id}`.
struct UpdateTokenRequest: Decodable {
    let name: String?
    let role: String?

    private enum CodingKeys: String, CodingKey { case name, role }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["name", "role"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Absent means "leave as it is"; an explicit null is a mistake, not a request to clear the field.
        for key in [CodingKeys.name, .role] where try container.contains(key) && container.decodeNil(forKey: key) {
            throw DecodingError.valueNotFound(
                String.self, .init(codingPath: decoder.codingPath + [key], debugDescription: "must not be null"))
        }
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.role = try container.decodeIfPresent(String.self, forKey: .role)
    }
}

/// Parses a role as the API accepts it: exactly `Administrator` or `User`.
func parseRole(_ value: String) throws(ValidationError) -> Role {
    guard let role = Role(rawValue: value) else {
        throw ValidationError(field: "role", reason: "must be Administrator or User")
    }
    return role
}

extension Token {
    /// The API form of a stored token: never its secret or digest.
    init(_ token: APIToken) {
        self.init(
            id: token.id.rawValue, name: token.name.rawValue, role: token.role.rawValue, organizationID: token.organizationID.description,
            kubernetesUsername: token.id.kubernetesUsername, secretGeneration: token.secretGeneration, createdAt: token.createdAt,
            updatedAt: token.updatedAt, secretRotatedAt: token.secretRotatedAt, lastUsedAt: token.lastUsedAt, lastUsedIP: token.lastUsedIP,
            expiresAt: token.expiresAt, createdBy: token.createdBy)
    }
}

extension TokenWithSecret {
    /// A token just created or regenerated, with the only copy of its secret.
    init(_ issued: TokenService.IssuedSecret) {
        self.init(token: Token(issued.token), secret: issued.secret.reveal)
    }
}

struct AuditEventResponse: Codable, Sendable {
    let id: String
    let occurredAt: Date
    let actor: String
    let action: String
    let targetType: String
    let targetID: String
    let sourceIP: String?
    let requestID: String?
    let outcome: String
    let details: [String: String]

    init(_ event: AuditEvent) {
        self.id = event.id.uuidString.lowercased()
        self.occurredAt = event.occurredAt
        self.actor = event.actor
        self.action = event.action.rawValue
        self.targetType = event.targetType
        self.targetID = event.targetID
        self.sourceIP = event.sourceIP
        self.requestID = event.requestID
        self.outcome = event.outcome
        self.details = event.details
    }

    private enum CodingKeys: String, CodingKey {
        case id, actor, action, outcome, details
        case occurredAt = "occurred_at"
        case targetType = "target_type"
        case targetID = "target_id"
        case sourceIP = "source_ip"
        case requestID = "request_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encode(actor, forKey: .actor)
        try container.encode(action, forKey: .action)
        try container.encode(targetType, forKey: .targetType)
        try container.encode(targetID, forKey: .targetID)
        try container.encode(sourceIP, forKey: .sourceIP)
        try container.encode(requestID, forKey: .requestID)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(details, forKey: .details)
    }
}
