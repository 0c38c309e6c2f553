import CloudfleetCore
import Foundation

/// An API token as stored: never the secret, only its keyed digest and generation.
public struct APIToken: Sendable, Equatable {
    public var id: TokenID
    public var organizationID: OrganizationID
    public var name: TokenName
    public var role: Role
    /// The keyed hash of the current secret.
    public var secretDigest: SecretDigest
    /// Starts at 1 and grows by one with each regeneration; access tokens carry it, so an older
    /// generation is refused at once.
    public var secretGeneration: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var secretRotatedAt: Date
    public var lastUsedAt: Date?
    public var lastUsedIP: String?
    public var expiresAt: Date?
    /// The audit actor that created the token (`token:<id>`, `bootstrap`, `admin-cli`).
    public var createdBy: String

    public init(
        id: TokenID, organizationID: OrganizationID, name: TokenName, role: Role, secretDigest: SecretDigest,
        secretGeneration: Int = 1, createdAt: Date, updatedAt: Date? = nil, secretRotatedAt: Date? = nil,
        lastUsedAt: Date? = nil, lastUsedIP: String? = nil, expiresAt: Date? = nil, createdBy: String
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.role = role
        self.secretDigest = secretDigest
        self.secretGeneration = secretGeneration
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.secretRotatedAt = secretRotatedAt ?? createdAt
        self.lastUsedAt = lastUsedAt
        self.lastUsedIP = lastUsedIP
        self.expiresAt = expiresAt
        self.createdBy = createdBy
    }
}

/// A change to a token's name or role; `nil` leaves the field as it is.
public struct TokenChange: Sendable, Equatable {
    public var name: TokenName?
    public var role: Role?

    public init(name: TokenName? = nil, role: Role? = nil) {
        self.name = name
        self.role = role
    }
}

/// One observed use of a token, written behind the request path.
public struct TokenUsage: Sendable, Equatable {
    public var tokenID: TokenID
    public var at: Date
    public var sourceIP: String?

    public init(tokenID: TokenID, at: Date, sourceIP: String?) {
        self.tokenID = tokenID
        self.at = at
        self.sourceIP = sourceIP
    }
}
