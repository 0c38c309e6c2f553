import Foundation

/// The identifier of an organization, the tenant every record belongs to (a UUID).
public struct OrganizationID: UUIDIdentifier {
    public static let noun = "an organization ID"
    public let uuid: UUID

    public init(_ uuid: UUID) {
        self.uuid = uuid
    }
}
