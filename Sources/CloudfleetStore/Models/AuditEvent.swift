import CloudfleetCore
import Foundation

/// One entry of the audit trail. Written in the same transaction as the change it records; never holds a
/// secret.
public struct AuditEvent: Sendable, Equatable {
    public var id: UUID
    public var organizationID: OrganizationID
    public var occurredAt: Date
    /// Who acted: `token:<id>`, `bootstrap` or `admin-cli`.
    public var actor: String
    public var action: AuditAction
    /// The kind of the target, such as `token` or `organization`.
    public var targetType: String
    public var targetID: String
    public var sourceIP: String?
    public var requestID: String?
    /// `success` for a change that happened.
    public var outcome: String
    /// Extra facts about the change (a changed field's old and new values, never a secret).
    public var details: [String: String]

    public init(
        id: UUID = UUID(), organizationID: OrganizationID, occurredAt: Date, actor: String, action: AuditAction,
        targetType: String, targetID: String, sourceIP: String? = nil, requestID: String? = nil,
        outcome: String = "success", details: [String: String] = [:]
    ) {
        self.id = id
        self.organizationID = organizationID
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
}

/// Narrows the audit trail; `nil` fields do not filter.
public struct AuditFilter: Sendable, Equatable {
    /// Exact actor, such as `token:2iKo4Asy51EUx2gpJFW76t`.
    public var actor: String?
    /// Events whose target is this ID (a token or cluster ID).
    public var targetID: String?
    public var action: AuditAction?
    /// Events at or after this instant.
    public var since: Date?
    /// Events before this instant.
    public var until: Date?

    public init(actor: String? = nil, targetID: String? = nil, action: AuditAction? = nil, since: Date? = nil, until: Date? = nil) {
        self.actor = actor
        self.targetID = targetID
        self.action = action
        self.since = since
        self.until = until
    }
}
