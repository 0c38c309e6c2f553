import Foundation

/// The identifier of an organization, the tenant every record belongs to (a UUID).
public struct OrganizationID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The UUID behind the identifier.
    public let uuid: UUID

    /// Wraps an existing UUID.
    public init(_ uuid: UUID) {
        self.uuid = uuid
    }

    /// Parses the canonical textual form of a UUID; `nil` for anything else.
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    /// A new random organization ID.
    public static func generate() -> OrganizationID { OrganizationID(UUID()) }

    /// Lower-case canonical text, the form stored and shown everywhere.
    public var description: String { uuid.uuidString.lowercased() }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = OrganizationID(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an organization ID"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
