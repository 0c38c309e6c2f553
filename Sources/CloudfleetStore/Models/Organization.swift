import CloudfleetCore
import Foundation

/// A tenant. Every other record belongs to exactly one organization.
public struct Organization: Sendable, Equatable, Codable {
    public var id: OrganizationID
    public var name: String
    public var createdAt: Date

    public init(id: OrganizationID, name: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}
