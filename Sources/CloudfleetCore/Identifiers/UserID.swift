import Foundation

/// The identifier of a person who signs in to the console (a UUID, shown lower-cased).
public struct UserID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The UUID behind the identifier.
    public let uuid: UUID

    /// Wraps an existing UUID.
    public init(_ uuid: UUID) {
        self.uuid = uuid
    }

    /// Parses the textual form of a UUID in any case; `nil` for anything else.
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    /// A new random user ID.
    public static func generate() -> UserID { UserID(UUID()) }

    /// Lower-case canonical text, the form stored and shown everywhere.
    public var description: String { uuid.uuidString.lowercased() }

    public static func < (lhs: UserID, rhs: UserID) -> Bool { lhs.description < rhs.description }
}
