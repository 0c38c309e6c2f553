import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Hummingbird

/// `/v1/organization` and `/v1/audit-events`: the caller's organization and its audit trail.
struct OrganizationController {
    let store: any Store

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("organization", use: organization)
        group.get("audit-events", use: auditEvents)
    }

    @Sendable func organization(_ request: Request, context: AppRequestContext) async throws -> OrganizationInfo {
        let id = try context.requirePrincipal().organizationID
        try context.authorize(.readOrganization, in: id)
        guard let organization = try await store.organization(id: id) else { throw APIError.notFound("Organization") }
        return OrganizationInfo(
            id: organization.id.description, name: organization.name, createdAt: organization.createdAt,
            tokenCount: try await store.tokenCount(organization: id))
    }

    @Sendable func auditEvents(_ request: Request, context: AppRequestContext) async throws -> ListPage<AuditEventResponse> {
        let id = try context.requirePrincipal().organizationID
        try context.authorize(.listAuditEvents, in: id)
        let pagination = try Pagination(request)
        let page = try await store.listAuditEvents(organization: id, after: try pagination.auditCursor(), limit: pagination.limit)
        return ListPage(items: page.items.map(AuditEventResponse.init), nextCursor: Pagination.encode(page.next))
    }
}
