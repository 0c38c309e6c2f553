/// The public identifier of an API token: 22 base62 characters from a CSPRNG.
///
/// IDs are not secret. Kubernetes sees a token as `service-account-<id lower-cased>`, so the store keeps IDs
/// unique also after lower-casing.
public struct TokenID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The number of characters of every token ID.
    public static let length = 22

    /// The ID as the user sees and types it.
    public let rawValue: String

    /// Parses an ID, returning `nil` unless `string` is exactly 22 base62 characters.
    public init?(_ string: String) {
        // Over the contiguous bytes: `utf8.allSatisfy(Base62.contains)` cost 60 instructions a byte.
        guard string.withUTF8Bytes({ $0.count == Self.length && $0.allSatisfy(Base62.contains) }) else { return nil }
        self.rawValue = string
    }

    /// Whether `presented` is this ID byte for byte. `String`'s `==`, and so a dictionary keyed by text, compares by
    /// Unicode canonical equivalence, under which a KELVIN SIGN (U+212A) equals a K: a presented ID found that way is
    /// this ID only if this also holds, as its parse (`init?(_:)`) would require.
    public func matches(exactly presented: String) -> Bool {
        // Over raw bytes: `elementsEqual` of the two buffers stepped through generic iterators (650 instructions).
        rawValue.withUTF8Bytes { id in presented.withUTF8Bytes { ConstantTime.equals(UnsafeRawBufferPointer(id), UnsafeRawBufferPointer($0)) } }
    }

    /// A new random ID (about 131 bits of entropy).
    public static func generate() -> TokenID {
        TokenID(unchecked: Base62.random(length: length))
    }

    private init(unchecked: String) {
        self.rawValue = unchecked
    }

    /// The ID lower-cased, the form the uniqueness constraint and Kubernetes use.
    public var lowercased: String { lowercased(after: "") }

    /// The Kubernetes user name of this token: `service-account-` and the lower-cased ID.
    public var kubernetesUsername: String { lowercased(after: "service-account-") }

    /// `prefix` and the lower-cased ID, written into one new string.
    private func lowercased(after prefix: StaticString) -> String {
        // IDs are base62, so ASCII: lower-cased byte by byte, without `lowercased()`'s Unicode tables.
        rawValue.withUTF8Bytes { bytes in
            String(unsafeUninitializedCapacity: prefix.utf8CodeUnitCount + bytes.count) { buffer in
                prefix.withUTF8Buffer { prefix in
                    for (index, byte) in prefix.enumerated() { buffer[index] = byte }
                }
                for (index, byte) in bytes.enumerated() {
                    buffer[prefix.utf8CodeUnitCount + index] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
                }
                return prefix.utf8CodeUnitCount + bytes.count
            }
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: TokenID, rhs: TokenID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = TokenID(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a token ID"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
