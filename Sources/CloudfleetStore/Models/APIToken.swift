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
    /// Last use with either secret: when, from which address, with which client.
    public var lastUsedAt: Date?
    public var lastUsedIP: String?
    public var lastUsedUserAgent: String?
    /// Last use of the current secret (since it was issued).
    public var secretLastUsedAt: Date?
    public var expiresAt: Date?
    /// The networks the token may be used from; empty means anywhere.
    public var allowedCIDRs: [String]
    /// The secret replaced by the last regeneration while its grace period runs.
    public var previousSecret: PreviousSecret?
    /// The audit actor that created the token (`token:<id>`, `bootstrap`, `admin-cli`).
    public var createdBy: String

    public init(
        id: TokenID, organizationID: OrganizationID, name: TokenName, role: Role, secretDigest: SecretDigest,
        secretGeneration: Int = 1, createdAt: Date, updatedAt: Date? = nil, secretRotatedAt: Date? = nil,
        lastUsedAt: Date? = nil, lastUsedIP: String? = nil, lastUsedUserAgent: String? = nil, secretLastUsedAt: Date? = nil,
        expiresAt: Date? = nil, allowedCIDRs: [String] = [], previousSecret: PreviousSecret? = nil, createdBy: String
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
        self.lastUsedUserAgent = lastUsedUserAgent
        self.secretLastUsedAt = secretLastUsedAt
        self.expiresAt = expiresAt
        self.allowedCIDRs = allowedCIDRs
        self.previousSecret = previousSecret
        self.createdBy = createdBy
    }
}

/// The secret a regeneration with a grace period replaced: still accepted until `validUntil`, with its own
/// last use, so a running pipeline keeps working while it moves to the new secret.
public struct PreviousSecret: Sendable, Equatable {
    public var digest: SecretDigest
    /// The secret generation it belongs to (the current generation minus one).
    public var generation: Int
    public var validUntil: Date
    public var lastUsedAt: Date?

    public init(digest: SecretDigest, generation: Int, validUntil: Date, lastUsedAt: Date? = nil) {
        self.digest = digest
        self.generation = generation
        self.validUntil = validUntil
        self.lastUsedAt = lastUsedAt
    }
}

/// A change to a token; `nil` leaves the field as it is.
public struct TokenChange: Sendable, Equatable {
    public var name: TokenName?
    public var role: Role?
    /// `.some(nil)` removes the expiry.
    public var expiresAt: Date??
    /// `.some([])` removes the fence.
    public var allowedCIDRs: [String]?

    public init(name: TokenName? = nil, role: Role? = nil, expiresAt: Date?? = nil, allowedCIDRs: [String]? = nil) {
        self.name = name
        self.role = role
        self.expiresAt = expiresAt
        self.allowedCIDRs = allowedCIDRs
    }

    /// Whether the change changes nothing.
    public var isEmpty: Bool { name == nil && role == nil && expiresAt == nil && allowedCIDRs == nil }
}

/// Which secret of a token was used.
public enum SecretSlot: Sendable, Equatable {
    case current
    /// The previous secret, during its grace period.
    case previous
}

/// Narrows a token list; `nil` fields do not filter.
public struct TokenFilter: Sendable, Equatable {
    /// Tokens that expire after `now` and at or before this instant.
    public var expiringBefore: Date?
    /// The instant `expiringBefore` counts from: tokens already expired are left out.
    public var now: Date?
    /// Tokens not used since this instant (never-used tokens created before it count as unused).
    public var unusedSince: Date?

    public init(expiringBefore: Date? = nil, now: Date? = nil, unusedSince: Date? = nil) {
        self.expiringBefore = expiringBefore
        self.now = now
        self.unusedSince = unusedSince
    }
}

/// One observed use of a token, written behind the request path.
public struct TokenUsage: Sendable, Equatable {
    public var tokenID: TokenID
    public var at: Date
    public var sourceIP: String?
    public var userAgent: String?
    /// Which secret was presented; access tokens count for the secret they were minted from.
    public var slot: SecretSlot

    public init(tokenID: TokenID, at: Date, sourceIP: String?, userAgent: String? = nil, slot: SecretSlot = .current) {
        self.tokenID = tokenID
        self.at = at
        self.sourceIP = sourceIP
        self.userAgent = userAgent
        self.slot = slot
    }
}
