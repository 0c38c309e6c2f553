import Foundation

/// The email address of a person, the key that maps a verified sign-in to a user. Stored and compared
/// lower-cased; 3–254 characters, one `@` with a non-empty local part and a domain of dot-separated labels;
/// no spaces, control characters, quotes or angle brackets.
public struct EmailAddress: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The lower-cased address.
    public let rawValue: String

    /// Validates and lower-cases `string` (surrounding whitespace is ignored).
    public init(_ string: String) throws(ValidationError) {
        let trimmed = string.trimmingCharacters(in: .whitespaces).lowercased()
        guard (3...254).contains(trimmed.count) else {
            throw ValidationError(field: "email", reason: "must be an email address of 3 to 254 characters")
        }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else {
            throw ValidationError(field: "email", reason: "must be an email address such as alice@example.com")
        }
        let forbidden: Set<Character> = [" ", "\"", "<", ">", "(", ")", ",", ";", ":", "\\", "[", "]", "/"]
        guard trimmed.allSatisfy({ $0.isASCII && !$0.isWhitespace && !forbidden.contains($0) && ($0.asciiValue ?? 0) >= 0x21 })
        else {
            throw ValidationError(field: "email", reason: "may hold only printable ASCII characters without spaces, quotes or brackets")
        }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        let labelCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard labels.count >= 2,
            labels.allSatisfy({ label in
                !label.isEmpty && label.count <= 63 && label.allSatisfy(labelCharacters.contains) && label.first != "-"
                    && label.last != "-"
            })
        else {
            throw ValidationError(field: "email", reason: "must have a domain such as example.com")
        }
        self.rawValue = trimmed
    }

    public var description: String { rawValue }

    public static func < (lhs: EmailAddress, rhs: EmailAddress) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try EmailAddress(string)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
