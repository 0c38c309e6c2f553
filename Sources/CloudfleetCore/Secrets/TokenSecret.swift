/// The secret half of an API token: `cfs_`, 40 base62 characters from a CSPRNG, and a 6-character base62
/// CRC32 checksum of everything before it.
///
/// The prefix and checksum let secret scanners recognise a leaked secret and check it offline. The value is
/// only ever revealed through ``reveal``; `description` is redacted so that a secret interpolated into a log
/// line or an error message by mistake shows nothing.
public struct TokenSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The fixed prefix of every secret.
    public static let prefix = "cfs_"
    /// The number of random base62 characters.
    public static let randomLength = 40
    /// The number of base62 checksum characters.
    public static let checksumLength = 6
    /// The total length of a secret.
    public static let length = prefix.count + randomLength + checksumLength

    private let value: String

    /// Why a string is not a well-formed secret.
    public enum FormatError: Error, Sendable, Equatable {
        /// Wrong length, prefix or characters.
        case malformed
        /// Well-formed but the checksum does not match: a typo or a truncated copy.
        case badChecksum
    }

    /// Parses a secret, checking its format and checksum without any I/O.
    public init(parsing string: some StringProtocol) throws(FormatError) {
        let utf8 = Array(string.utf8)
        guard utf8.count == Self.length, string.hasPrefix(Self.prefix),
            string.dropFirst(Self.prefix.count).allSatisfy(Base62.contains)
        else { throw .malformed }
        let body = utf8[0..<(Self.prefix.count + Self.randomLength)]
        let checksum = String(decoding: utf8[(Self.prefix.count + Self.randomLength)...], as: UTF8.self)
        guard Self.checksum(of: body) == checksum else { throw .badChecksum }
        self.value = String(string)
    }

    /// A new secret with 40 characters (about 238 bits) of CSPRNG output.
    public static func generate() -> TokenSecret {
        let body = prefix + Base62.random(length: randomLength)
        return TokenSecret(unchecked: body + checksum(of: Array(body.utf8)))
    }

    private init(unchecked value: String) {
        self.value = value
    }

    private static func checksum(of body: some Sequence<UInt8>) -> String {
        Base62.encode(UInt64(CRC32.checksum(body)), width: checksumLength)
    }

    /// The secret itself. Call only where the secret is meant to be shown or hashed.
    public var reveal: String { value }

    /// Always redacted: secrets never reach logs through string interpolation.
    public var description: String { "cfs_[REDACTED]" }
    public var debugDescription: String { description }
}
