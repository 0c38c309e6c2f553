import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation
import Hummingbird

/// `/v1/organization` and `/v1/audit-events`: the caller's organization, its token policy and its audit trail.
struct OrganizationController {
    let store: any Store
    let clock: @Sendable () -> Date

    func addRoutes(to group: AuthenticatedRoutes) {
        group.get("organization", use: organization)
        group.patch("organization", use: updatePolicy)
        group.get("audit-events", use: auditEvents)
    }

    @Sendable func organization(_ request: Request, context: AppRequestContext) async throws -> OrganizationInfo {
        let id = try context.requirePrincipal().organizationID
        try context.authorize(.readOrganization, in: id)
        guard let organization = try await store.organization(id: id) else { throw APIError.notFound("Organization") }
        return try await info(organization)
    }

    /// `PATCH /v1/organization`: `{"max_token_lifetime": "365d" | null, "require_expiry": true}` (Administrator).
    @Sendable func updatePolicy(_ request: Request, context: AppRequestContext) async throws -> OrganizationInfo {
        let principal = try context.requirePrincipal()
        let id = principal.organizationID
        try context.authorize(.updateOrganizationPolicy, in: id)
        let body = try await RequestBody.decode(UpdatePolicyRequest.self, from: request, context: context)
        guard body.maxTokenLifetime != nil || body.requireExpiry != nil else {
            throw APIError.badRequest("Give at least one of max_token_lifetime and require_expiry.", code: "missing_field")
        }
        guard let current = try await store.organization(id: id) else { throw APIError.notFound("Organization") }
        var policy = current.policy
        if let lifetime = body.maxTokenLifetime {
            policy.maximumLifetime = try lifetime.map { text throws(ValidationError) -> TimeInterval in
                guard let duration = DurationText(text), duration.seconds >= 3_600 else {
                    throw ValidationError(field: "max_token_lifetime", reason: "must be a duration such as 90d or 365d, at least 1h")
                }
                return duration.timeInterval
            }
        }
        if let require = body.requireExpiry { policy.requireExpiry = require }
        var details = ["require_expiry": String(policy.requireExpiry)]
        details["max_token_lifetime"] = policy.maximumLifetime.map { DurationText(seconds: Int($0)).description } ?? "none"
        let updated = try await store.updateOrganizationPolicy(
            id: id, policy: policy,
            audit: AuditEvent(
                organizationID: id, occurredAt: clock(), actor: principal.auditActor, action: .organizationPolicyUpdate,
                targetType: "organization", targetID: id.description, sourceIP: context.sourceIP, requestID: context.id, details: details))
        return try await info(updated)
    }

    /// `GET /v1/audit-events?actor=&token=&action=&since=&until=` (Administrator).
    @Sendable func auditEvents(_ request: Request, context: AppRequestContext) async throws -> ListPage<AuditEventInfo> {
        let id = try context.requirePrincipal().organizationID
        try context.authorize(.listAuditEvents, in: id)
        let pagination = try Pagination(request)
        let query = request.uri.queryParameters
        var filter = AuditFilter()
        filter.actor = query["actor"].map(String.init)
        if let token = query["token"] {
            guard let tokenID = TokenID(String(token)) else {
                throw APIError.badRequest("token must be a token ID.", field: "token", code: "invalid_field")
            }
            filter.targetID = tokenID.rawValue
        }
        if let action = query["action"] {
            guard let parsed = AuditAction(rawValue: String(action)) else {
                let known = AuditAction.allCases.map(\.rawValue).joined(separator: ", ")
                throw APIError.badRequest("action must be one of \(known).", field: "action", code: "invalid_field")
            }
            filter.action = parsed
        }
        for (name, keyPath) in [("since", \AuditFilter.since), ("until", \AuditFilter.until)] {
            guard let raw = query[Substring(name)] else { continue }
            do {
                filter[keyPath: keyPath] = try parseTimestamp(String(raw), field: name)
            } catch {
                throw APIError.badRequest("\(name) must be an RFC 3339 timestamp such as 2026-11-01T00:00:00Z.", field: name, code: "invalid_field")
            }
        }
        let page = try await store.listAuditEvents(organization: id, filter: filter, after: try pagination.auditCursor(), limit: pagination.limit)
        return ListPage(items: page.items.map(AuditEventInfo.init), nextCursor: Pagination.encode(page.next))
    }

    private func info(_ organization: Organization) async throws -> OrganizationInfo {
        OrganizationInfo(
            id: organization.id.description, name: organization.name, createdAt: organization.createdAt,
            tokenCount: try await store.tokenCount(organization: organization.id),
            policy: TokenPolicyInfo(
                maxTokenLifetimeSeconds: organization.policy.maximumLifetime.map { Int($0) }, requireExpiry: organization.policy.requireExpiry))
    }
}

/// `PATCH /v1/organization`.
struct UpdatePolicyRequest: Decodable {
    /// Absent: unchanged; `null`: no limit.
    let maxTokenLifetime: String??
    let requireExpiry: Bool?

    private enum CodingKeys: String, CodingKey {
        case maxTokenLifetime = "max_token_lifetime"
        case requireExpiry = "require_expiry"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["max_token_lifetime", "require_expiry"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try container.rejectNull([.requireExpiry], codingPath: decoder.codingPath)
        if container.contains(.maxTokenLifetime) {
            self.maxTokenLifetime = .some(
                try container.decodeNil(forKey: .maxTokenLifetime) ? nil : try container.decode(String.self, forKey: .maxTokenLifetime))
        } else {
            self.maxTokenLifetime = nil
        }
        self.requireExpiry = try container.decodeIfPresent(Bool.self, forKey: .requireExpiry)
    }
}
