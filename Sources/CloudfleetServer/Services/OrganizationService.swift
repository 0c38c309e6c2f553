import CloudfleetCore
import CloudfleetStore
import Foundation

/// Creating organizations, and the very first start of an empty database.
public struct OrganizationService: Sendable {
    let store: any Store
    let tokens: TokenService
    let clock: @Sendable () -> Date

    /// Creates an organization named `name` (1–100 printable characters).
    public func create(name: String, context: AuditContext) async throws -> Organization {
        let validated = try TokenName(name)  // Same rules as token names.
        let organization = Organization(id: .generate(), name: validated.rawValue, createdAt: clock())
        try await store.createOrganization(
            organization,
            audit: AuditEvent(
                organizationID: organization.id, occurredAt: organization.createdAt, actor: context.actor,
                action: .organizationCreate, targetType: "organization", targetID: organization.id.description,
                details: ["name": organization.name]))
        return organization
    }

    /// What the first start of an empty database created.
    public struct Bootstrap: Sendable {
        public let organization: Organization
        public let administrator: TokenService.IssuedSecret
    }

    /// On an empty database, creates an organization and an initial Administrator token; otherwise `nil`.
    public func bootstrapIfEmpty() async throws -> Bootstrap? {
        guard try await store.organizationCount() == 0 else { return nil }
        let context = AuditContext(actor: "bootstrap")
        let organization = try await create(name: "Default organization", context: context)
        let administrator = try await tokens.create(
            name: try TokenName("Initial administrator"), role: .administrator, organization: organization.id, context: context)
        return Bootstrap(organization: organization, administrator: administrator)
    }
}
