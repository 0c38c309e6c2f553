import Foundation

/// The identifier of a Kubernetes cluster registered with an organization (a UUID, shown lower-cased).
public struct ClusterID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
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

    /// A new random cluster ID.
    public static func generate() -> ClusterID { ClusterID(UUID()) }

    /// Lower-case canonical text, the form stored and shown everywhere.
    public var description: String { uuid.uuidString.lowercased() }

    /// The `aud` of cluster tokens for this cluster: what the kube-apiserver is configured to accept.
    public var audience: String { "cloudfleet:cluster:" + description }

    public static func < (lhs: ClusterID, rhs: ClusterID) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = ClusterID(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a cluster ID"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
