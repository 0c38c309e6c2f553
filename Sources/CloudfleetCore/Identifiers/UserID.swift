import Foundation

/// The identifier of a person who signs in to the console (a UUID, shown lower-cased).
public struct UserID: UUIDIdentifier {
    public static let noun = "a user ID"
    public let uuid: UUID

    public init(_ uuid: UUID) {
        self.uuid = uuid
    }
}
