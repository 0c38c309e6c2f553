import Foundation

/// An identifier that is a UUID, shown and stored lower-cased: organizations, clusters and people share its
/// parsing, text, order and JSON form.
public protocol UUIDIdentifier: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The UUID behind the identifier.
    var uuid: UUID { get }
    /// Wraps an existing UUID.
    init(_ uuid: UUID)
    /// What the identifier names, for decoding errors ("an organization ID").
    static var noun: String { get }
}

extension UUIDIdentifier {
    /// Parses the textual form of a UUID in any case; `nil` for anything else.
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.init(uuid)
    }

    /// A new random identifier.
    public static func generate() -> Self { Self(UUID()) }

    /// Lower-case canonical text, the form stored and shown everywhere.
    public var description: String { uuid.uuidString.lowercased() }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = Self(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not \(Self.noun)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
