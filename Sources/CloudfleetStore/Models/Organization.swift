import CloudfleetCore
import Foundation

/// A tenant. Every other record belongs to exactly one organization.
public struct Organization: Sendable, Equatable, Codable {
    public var id: OrganizationID
    public var name: String
    public var createdAt: Date
    public var policy: TokenPolicy

    public init(id: OrganizationID, name: String, createdAt: Date, policy: TokenPolicy = TokenPolicy()) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.policy = policy
    }
}

/// An organization's rules for its tokens' lifetimes.
public struct TokenPolicy: Sendable, Equatable, Codable {
    /// The longest lifetime a token may be given, from its creation or update; `nil` for no limit.
    public var maximumLifetime: TimeInterval?
    /// Whether every token must have an expiry.
    public var requireExpiry: Bool

    public init(maximumLifetime: TimeInterval? = nil, requireExpiry: Bool = false) {
        self.maximumLifetime = maximumLifetime
        self.requireExpiry = requireExpiry
    }
}
