import Foundation

/// A token as the API describes it (never its secret): the wire form that the server writes and the client reads,
/// defined once. Every field is always present; absent values are `null`.
public struct Token: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: String
    public var organizationID: String
    public var kubernetesUsername: String
    public var secretGeneration: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var secretRotatedAt: Date
    public var lastUsedAt: Date?
    public var lastUsedIP: String?
    public var expiresAt: Date?
    public var createdBy: String

    public init(
        id: String, name: String, role: String, organizationID: String, kubernetesUsername: String, secretGeneration: Int,
        createdAt: Date, updatedAt: Date, secretRotatedAt: Date, lastUsedAt: Date?, lastUsedIP: String?, expiresAt: Date?,
        createdBy: String
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.organizationID = organizationID
        self.kubernetesUsername = kubernetesUsername
        self.secretGeneration = secretGeneration
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.secretRotatedAt = secretRotatedAt
        self.lastUsedAt = lastUsedAt
        self.lastUsedIP = lastUsedIP
        self.expiresAt = expiresAt
        self.createdBy = createdBy
    }

    enum CodingKeys: String, CodingKey {
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

    public func encode(to encoder: any Encoder) throws {
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
        try container.encode(lastUsedAt, forKey: .lastUsedAt)
        try container.encode(lastUsedIP, forKey: .lastUsedIP)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(createdBy, forKey: .createdBy)
    }
}

/// A token with the only copy of its secret, as create and regenerate answer.
public struct TokenWithSecret: Codable, Sendable, Equatable {
    public var token: Token
    public var secret: String

    public init(token: Token, secret: String) {
        self.token = token
        self.secret = secret
    }

    private enum CodingKeys: String, CodingKey { case secret }

    public init(from decoder: any Decoder) throws {
        self.token = try Token(from: decoder)
        self.secret = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .secret)
    }

    public func encode(to encoder: any Encoder) throws {
        try token.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(secret, forKey: .secret)
    }
}

/// One page of a list and the cursor of the next page (`null` on the last page).
public struct ListPage<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// The caller's organization.
public struct OrganizationInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Date
    public var tokenCount: Int

    public init(id: String, name: String, createdAt: Date, tokenCount: Int) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.tokenCount = tokenCount
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case createdAt = "created_at"
        case tokenCount = "token_count"
    }
}
