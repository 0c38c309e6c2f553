import Foundation

/// A token as the API describes it (never its secret).
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

/// One page of a list.
public struct ListPage<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }
}

/// The caller's organization.
public struct OrganizationInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Date
    public var tokenCount: Int

    enum CodingKeys: String, CodingKey {
        case id, name
        case createdAt = "created_at"
        case tokenCount = "token_count"
    }
}
