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

/// A token as the API shows it: never a secret or a digest.
struct TokenResponse: Encodable {
    let id: String
    let name: String
    let role: String
    let organizationID: String
    let kubernetesUsername: String
    let secretGeneration: Int
    let createdAt: Date
    let updatedAt: Date
    let secretRotatedAt: Date
    let lastUsedAt: Date?
    let lastUsedIP: String?
    let expiresAt: Date?
    let createdBy: String

    init(_ token: APIToken) {
        self.id = token.id.rawValue
        self.name = token.name.rawValue
        self.role = token.role.rawValue
        self.organizationID = token.organizationID.description
        self.kubernetesUsername = token.id.kubernetesUsername
        self.secretGeneration = token.secretGeneration
        self.createdAt = token.createdAt
        self.updatedAt = token.updatedAt
        self.secretRotatedAt = token.secretRotatedAt
        self.lastUsedAt = token.lastUsedAt
        self.lastUsedIP = token.lastUsedIP
        self.expiresAt = token.expiresAt
        self.createdBy = token.createdBy
    }

    private enum CodingKeys: String, CodingKey {
        case id, name, role
        case organizationID = "organization_id"
        case kubernetesUsername = "kubernetes_username"
        case secretGeneration = "secret_generation"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case secretRotatedAt = "secret_rotated_at"
        case lastUsedAt = "last_used_at"
        case lastUsedIP = "last_used_ip"
        case expiresAt = "expires_at"
        case createdBy = "created_by"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(organizationID, forKey: .organizationID)
        try container.encode(kubernetesUsername, forKey: .kubernetesUsername)
        try container.encode(secretGeneration, forKey: .secretGeneration)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(secretRotatedAt, forKey: .secretRotatedAt)
        // Absent values are written as null so that every field is always present.
        try container.encode(lastUsedAt, forKey: .lastUsedAt)
        try container.encode(lastUsedIP, forKey: .lastUsedIP)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(createdBy, forKey: .createdBy)
    }
}

/// A token with the only copy of its secret, answered by create and regenerate.
struct TokenWithSecretResponse: Encodable {
    let token: TokenResponse
    let secret: String

    init(_ issued: TokenService.IssuedSecret) {
        self.token = TokenResponse(issued.token)
        self.secret = issued.secret.reveal
    }

    private enum CodingKeys: String, CodingKey { case secret }

    func encode(to encoder: any Encoder) throws {
        try token.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(secret, forKey: .secret)
    }
}

/// One page of a list and the cursor of the next page (`null` on the last page).
struct ListResponse<Item: Encodable>: Encodable {
    let items: [Item]
    let nextCursor: String?

    private enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

struct OrganizationResponse: Encodable {
    let id: String
    let name: String
    let createdAt: Date
    let tokenCount: Int

    private enum CodingKeys: String, CodingKey {
        case id, name
        case createdAt = "created_at"
        case tokenCount = "token_count"
    }
}

struct AuditEventResponse: Encodable {
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
