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
    public var lastUsedUserAgent: String?
    /// Last use of the current secret.
    public var secretLastUsedAt: Date?
    public var expiresAt: Date?
    /// Networks the token may be used from; empty means anywhere.
    public var allowedCIDRs: [String]
    /// Until when the previous secret is still accepted, while a regeneration's grace period runs; else `null`.
    public var previousSecretValidUntil: Date?
    public var previousSecretLastUsedAt: Date?
    public var createdBy: String

    public init(
        id: String, name: String, role: String, organizationID: String, kubernetesUsername: String, secretGeneration: Int,
        createdAt: Date, updatedAt: Date, secretRotatedAt: Date, lastUsedAt: Date?, lastUsedIP: String?, lastUsedUserAgent: String? = nil,
        secretLastUsedAt: Date? = nil, expiresAt: Date?, allowedCIDRs: [String] = [], previousSecretValidUntil: Date? = nil,
        previousSecretLastUsedAt: Date? = nil, createdBy: String
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
        self.lastUsedUserAgent = lastUsedUserAgent
        self.secretLastUsedAt = secretLastUsedAt
        self.expiresAt = expiresAt
        self.allowedCIDRs = allowedCIDRs
        self.previousSecretValidUntil = previousSecretValidUntil
        self.previousSecretLastUsedAt = previousSecretLastUsedAt
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
        case lastUsedUserAgent = "last_used_user_agent"
        case secretLastUsedAt = "secret_last_used_at"
        case expiresAt = "expires_at"
        case allowedCIDRs = "allowed_cidrs"
        case previousSecretValidUntil = "previous_secret_valid_until"
        case previousSecretLastUsedAt = "previous_secret_last_used_at"
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
        try container.encode(lastUsedUserAgent, forKey: .lastUsedUserAgent)
        try container.encode(secretLastUsedAt, forKey: .secretLastUsedAt)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(allowedCIDRs, forKey: .allowedCIDRs)
        try container.encode(previousSecretValidUntil, forKey: .previousSecretValidUntil)
        try container.encode(previousSecretLastUsedAt, forKey: .previousSecretLastUsedAt)
        try container.encode(createdBy, forKey: .createdBy)
    }
}

extension Token: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.object { writeFields(to: &$0, secret: nil) }
    }

    /// The fields in sorted key order, with `secret` in its place when given.
    fileprivate func writeFields(to writer: inout JSONWriter, secret: String?) {
        writer.field("allowed_cidrs", allowedCIDRs)
        writer.field("created_at", createdAt)
        writer.field("created_by", createdBy)
        writer.field("expires_at", expiresAt)
        writer.field("id", id)
        writer.field("kubernetes_username", kubernetesUsername)
        writer.field("last_used_at", lastUsedAt)
        writer.field("last_used_ip", lastUsedIP)
        writer.field("last_used_user_agent", lastUsedUserAgent)
        writer.field("name", name)
        writer.field("organization_id", organizationID)
        writer.field("previous_secret_last_used_at", previousSecretLastUsedAt)
        writer.field("previous_secret_valid_until", previousSecretValidUntil)
        writer.field("role", role)
        if let secret { writer.field("secret", secret) }
        writer.field("secret_generation", secretGeneration)
        writer.field("secret_last_used_at", secretLastUsedAt)
        writer.field("secret_rotated_at", secretRotatedAt)
        writer.field("updated_at", updatedAt)
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

extension TokenWithSecret: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.object { token.writeFields(to: &$0, secret: secret) }
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
    public var policy: TokenPolicyInfo

    public init(id: String, name: String, createdAt: Date, tokenCount: Int, policy: TokenPolicyInfo = TokenPolicyInfo()) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.tokenCount = tokenCount
        self.policy = policy
    }

    enum CodingKeys: String, CodingKey {
        case id, name, policy
        case createdAt = "created_at"
        case tokenCount = "token_count"
    }
}

/// An organization's token policy on the wire: the longest lifetime in seconds (`null` for none) and whether an
/// expiry is required.
public struct TokenPolicyInfo: Codable, Sendable, Equatable {
    public var maxTokenLifetimeSeconds: Int?
    public var requireExpiry: Bool

    public init(maxTokenLifetimeSeconds: Int? = nil, requireExpiry: Bool = false) {
        self.maxTokenLifetimeSeconds = maxTokenLifetimeSeconds
        self.requireExpiry = requireExpiry
    }

    enum CodingKeys: String, CodingKey {
        case maxTokenLifetimeSeconds = "max_token_lifetime_seconds"
        case requireExpiry = "require_expiry"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(maxTokenLifetimeSeconds, forKey: .maxTokenLifetimeSeconds)
        try container.encode(requireExpiry, forKey: .requireExpiry)
    }
}

/// One audit event on the wire (never a secret).
public struct AuditEventInfo: Codable, Sendable, Equatable {
    public var id: String
    public var occurredAt: Date
    public var actor: String
    public var action: String
    public var targetType: String
    public var targetID: String
    public var sourceIP: String?
    public var requestID: String?
    public var outcome: String
    public var details: [String: String]

    public init(
        id: String, occurredAt: Date, actor: String, action: String, targetType: String, targetID: String, sourceIP: String?,
        requestID: String?, outcome: String, details: [String: String]
    ) {
        self.id = id
        self.occurredAt = occurredAt
        self.actor = actor
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.sourceIP = sourceIP
        self.requestID = requestID
        self.outcome = outcome
        self.details = details
    }

    enum CodingKeys: String, CodingKey {
        case id, actor, action, outcome, details
        case occurredAt = "occurred_at"
        case targetType = "target_type"
        case targetID = "target_id"
        case sourceIP = "source_ip"
        case requestID = "request_id"
    }

    public func encode(to encoder: any Encoder) throws {
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

/// `GET /v1/tokens/self`: the token that authenticated the request, as the server sees it now (like Cloudflare's
/// `/user/tokens/verify` and GitLab's `/personal_access_tokens/self`). Answered from the authentication itself,
/// without reading the store, so scripts can check a credential cheaply.
public struct CurrentToken: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: String
    public var organizationID: String
    public var kubernetesUsername: String
    public var expiresAt: Date?
    /// How the request authenticated: `basic` (token ID and secret) or `bearer` (an access token).
    public var credential: String
    /// Which secret the credential stands for: `current`, or `previous` during a regeneration's grace period
    /// (time to switch to the new secret).
    public var secretInUse: String

    public init(
        id: String, name: String, role: String, organizationID: String, kubernetesUsername: String, expiresAt: Date?, credential: String,
        secretInUse: String
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.organizationID = organizationID
        self.kubernetesUsername = kubernetesUsername
        self.expiresAt = expiresAt
        self.credential = credential
        self.secretInUse = secretInUse
    }

    enum CodingKeys: String, CodingKey {
        case id, name, role, credential
        case organizationID = "organization_id"
        case kubernetesUsername = "kubernetes_username"
        case expiresAt = "expires_at"
        case secretInUse = "secret_in_use"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(organizationID, forKey: .organizationID)
        try container.encode(kubernetesUsername, forKey: .kubernetesUsername)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(credential, forKey: .credential)
        try container.encode(secretInUse, forKey: .secretInUse)
    }
}

extension CurrentToken: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("credential", credential)
            writer.field("expires_at", expiresAt)
            writer.field("id", id)
            writer.field("kubernetes_username", kubernetesUsername)
            writer.field("name", name)
            writer.field("organization_id", organizationID)
            writer.field("role", role)
            writer.field("secret_in_use", secretInUse)
        }
    }
}
