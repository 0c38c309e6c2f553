import Foundation

/// The body of `POST /v1/tokens`: absent optional fields are left out.
public struct TokenCreation: Encodable, Sendable, Equatable {
    public var name: String
    public var role: String
    public var expiresAt: Date?
    /// Networks the token may be used from; `nil` leaves the field out (anywhere).
    public var allowedCIDRs: [String]?

    public init(name: String, role: String, expiresAt: Date? = nil, allowedCIDRs: [String]? = nil) {
        self.name = name
        self.role = role
        self.expiresAt = expiresAt
        self.allowedCIDRs = allowedCIDRs
    }

    enum CodingKeys: String, CodingKey {
        case name, role
        case expiresAt = "expires_at"
        case allowedCIDRs = "allowed_cidrs"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encodeIfPresent(expiresAt.map(RFC3339.string), forKey: .expiresAt)
        try container.encodeIfPresent(allowedCIDRs, forKey: .allowedCIDRs)
    }
}

/// The body of `PATCH /v1/tokens/{id}`: only the fields to change. An expiry of ``Expiry/never`` is sent as an
/// explicit JSON `null`, and an empty list of networks as `[]` (anywhere).
public struct TokenChanges: Encodable, Sendable, Equatable {
    /// A new expiry.
    public enum Expiry: Sendable, Equatable {
        case at(Date)
        case never
    }

    public var name: String?
    public var role: String?
    public var expiry: Expiry?
    public var allowedCIDRs: [String]?

    public init(name: String? = nil, role: String? = nil, expiry: Expiry? = nil, allowedCIDRs: [String]? = nil) {
        self.name = name
        self.role = role
        self.expiry = expiry
        self.allowedCIDRs = allowedCIDRs
    }

    /// Whether nothing would change.
    public var isEmpty: Bool { name == nil && role == nil && expiry == nil && allowedCIDRs == nil }

    enum CodingKeys: String, CodingKey {
        case name, role
        case expiresAt = "expires_at"
        case allowedCIDRs = "allowed_cidrs"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(role, forKey: .role)
        switch expiry {
        case .at(let date): try container.encode(RFC3339.string(date), forKey: .expiresAt)
        case .never: try container.encodeNil(forKey: .expiresAt)
        case nil: break
        }
        try container.encodeIfPresent(allowedCIDRs, forKey: .allowedCIDRs)
    }
}

/// The body of `PATCH /v1/organization`: only the fields to change.
public struct PolicyChanges: Encodable, Sendable, Equatable {
    /// A new longest token lifetime.
    public enum Lifetime: Sendable, Equatable {
        /// A duration text such as `365d`.
        case limit(String)
        /// No limit: sent as `null`.
        case unlimited
    }

    public var maxTokenLifetime: Lifetime?
    public var requireExpiry: Bool?

    public init(maxTokenLifetime: Lifetime? = nil, requireExpiry: Bool? = nil) {
        self.maxTokenLifetime = maxTokenLifetime
        self.requireExpiry = requireExpiry
    }

    enum CodingKeys: String, CodingKey {
        case maxTokenLifetime = "max_token_lifetime"
        case requireExpiry = "require_expiry"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch maxTokenLifetime {
        case .limit(let text): try container.encode(text, forKey: .maxTokenLifetime)
        case .unlimited: try container.encodeNil(forKey: .maxTokenLifetime)
        case nil: break
        }
        try container.encodeIfPresent(requireExpiry, forKey: .requireExpiry)
    }
}

/// The filters of `GET /v1/tokens`: duration texts such as `7d`.
public struct TokenListFilter: Sendable, Equatable {
    public var expiringWithin: String?
    public var unusedFor: String?

    public init(expiringWithin: String? = nil, unusedFor: String? = nil) {
        self.expiringWithin = expiringWithin
        self.unusedFor = unusedFor
    }

    var query: [(String, String)] {
        [("expiring_within", expiringWithin), ("unused_for", unusedFor)].compactMap { name, value in value.map { (name, $0) } }
    }
}

/// The filters of `GET /v1/audit-events`.
public struct AuditEventFilter: Sendable, Equatable {
    /// Such as `token:2iKo4Asy51EUx2gpJFW76t`.
    public var actor: String?
    /// Events about this token ID.
    public var tokenID: String?
    /// Such as `token.regenerate`.
    public var action: String?
    public var since: Date?
    public var until: Date?

    public init(actor: String? = nil, tokenID: String? = nil, action: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.actor = actor
        self.tokenID = tokenID
        self.action = action
        self.since = since
        self.until = until
    }

    var query: [(String, String)] {
        [
            ("actor", actor), ("token", tokenID), ("action", action), ("since", since.map(RFC3339.string)),
            ("until", until.map(RFC3339.string)),
        ].compactMap { name, value in value.map { (name, $0) } }
    }
}

/// RFC 3339 timestamps as the API reads them: UTC, whole seconds.
public enum RFC3339 {
    public static func string(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// Parses an RFC 3339 timestamp, with or without fractional seconds; `nil` for anything else.
    public static func date(_ text: String) -> Date? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
