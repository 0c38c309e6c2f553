/// The name of a cluster: a DNS label (RFC 1123), 1 to 63 lower-case letters, digits and hyphens, starting with
/// a letter and ending with a letter or digit. It becomes part of kubeconfig entry names, so it stays
/// shell- and file-name-safe.
public struct ClusterName: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The longest name accepted.
    public static let maximumLength = 63

    /// The name.
    public let rawValue: String

    /// Validates `input` (surrounding white space is ignored).
    public init(_ input: String) throws(ValidationError) {
        let name = input.trimmingWhitespace()
        guard !name.isEmpty else { throw ValidationError(field: "name", reason: "must not be empty") }
        guard name.utf8.count <= Self.maximumLength else {
            throw ValidationError(field: "name", reason: "must be at most \(Self.maximumLength) characters")
        }
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }
        guard allowed, let first = bytes.first, (0x61...0x7A).contains(first), let last = bytes.last, last != 0x2D else {
            throw ValidationError(
                field: "name", reason: "must be lower-case letters, digits and hyphens, start with a letter and not end with a hyphen")
        }
        self.rawValue = name
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try ClusterName(string)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.reason))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
