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
    /// Parses the textual form of a UUID in any case (`8-4-4-4-12` hexadecimal digits); `nil` for anything else.
    public init?(_ string: String) {
        guard let uuid = UUIDText.parse(string) else { return nil }
        self.init(uuid)
    }

    /// A new random identifier.
    public static func generate() -> Self { Self(UUID()) }

    /// Lower-case canonical text, the form stored and shown everywhere.
    public var description: String { UUIDText.lowercased(uuid) }

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

/// The `8-4-4-4-12` text of a UUID, written and read over bytes.
///
/// Foundation's `uuidString` and `UUID(uuidString:)` go through `snprintf` and `sscanf` on Linux, and
/// `lowercased()` builds a second string: about 1 µs a conversion, and the webhook made five per review.
/// Reads exactly 36 characters, dashes at 8, 13, 18 and 23 and hexadecimal digits of either case elsewhere:
/// stricter than Foundation's `sscanf` on Linux, which also took signs, spaces and `0x` inside the groups, so
/// that one ID had many spellings in a URL.
enum UUIDText {
    /// The lower-case text of `uuid`.
    static func lowercased(_ uuid: UUID) -> String {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                var index = 0
                for offset in 0..<16 {
                    if offset == 4 || offset == 6 || offset == 8 || offset == 10 {
                        text[index] = UInt8(ascii: "-")
                        index += 1
                    }
                    let byte = bytes[offset]
                    text[index] = Hex.digit(byte >> 4)
                    text[index + 1] = Hex.digit(byte & 0x0F)
                    index += 2
                }
                return index
            }
        }
    }

    /// The UUID written as `text`, or `nil` if it is not one.
    static func parse(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { utf8 -> UUID? in
            guard utf8.count == 36 else { return nil }
            var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let parsed = withUnsafeMutableBytes(of: &bytes) { output -> Bool in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        guard utf8[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = value(of: utf8[position]), let low = value(of: utf8[position + 1]) else { return false }
                    output[index] = high << 4 | low
                    position += 2
                }
                return true
            }
            return parsed ? UUID(uuid: bytes) : nil
        }
    }

    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
