/// The secret half of an API token: `cfs_`, 40 base62 characters from a CSPRNG, and a 6-character base62
/// CRC32 checksum of everything before it.
///
/// The prefix and checksum let secret scanners recognise a leaked secret and check it offline. The value is
/// only ever revealed through ``reveal``; `description` is redacted so that a secret interpolated into a log
/// line or an error message by mistake shows nothing.
public struct TokenSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The fixed prefix of every secret.
    public static let prefix = "cfs_"
    /// The total length of a secret.
    public static let length = prefix.count + ChecksummedSecretFormat.randomLength + ChecksummedSecretFormat.checksumLength

    private let value: String

    /// Why a string is not a well-formed secret.
    public typealias FormatError = SecretFormatError

    /// Parses a secret, checking its format and checksum without any I/O.
    public init(parsing string: some StringProtocol) throws(FormatError) {
        try ChecksummedSecretFormat.validate(string, prefix: Self.prefix)
        self.value = String(string)
    }

    /// A new secret with 40 characters (about 238 bits) of CSPRNG output.
    public static func generate() -> TokenSecret {
        TokenSecret(unchecked: ChecksummedSecretFormat.generate(prefix: prefix))
    }

    private init(unchecked value: String) {
        self.value = value
    }

    /// The secret itself. Call only where the secret is meant to be shown or hashed.
    public var reveal: String { value }

    /// Always redacted: secrets never reach logs through string interpolation.
    public var description: String { "cfs_[REDACTED]" }
    public var debugDescription: String { description }
    /// No children: `dump` and other reflection show the redacted description, never the stored value.
    public var customMirror: Mirror { Mirror(self, children: [Mirror.Child]()) }
}

/// Why a string is not a well-formed secret of the service.
public enum SecretFormatError: Error, Sendable, Equatable {
    /// Wrong length, prefix or characters.
    case malformed
    /// Well-formed but the checksum does not match: a typo or a truncated copy.
    case badChecksum
}

/// The shape of every secret the service issues: a prefix naming its kind, 40 base62 characters from a
/// CSPRNG and a 6-character base62 CRC32 of everything before the checksum.
enum ChecksummedSecretFormat {
    /// The number of random base62 characters.
    static let randomLength = 40
    /// The number of base62 checksum characters.
    static let checksumLength = 6

    /// A new secret with `prefix`.
    static func generate(prefix: String) -> String {
        let body = prefix + Base62.random(length: randomLength)
        return body + checksum(of: Array(body.utf8))
    }

    /// Checks length, prefix, alphabet and checksum of `string`.
    static func validate(_ string: some StringProtocol, prefix: String) throws(SecretFormatError) {
        // Over the string's own bytes: copying them into an array was an allocation on each Basic authentication.
        if let fault = string.withUTF8Bytes({ Self.fault(of: $0, prefix: prefix) }) { throw fault }
    }

    /// What is wrong with `utf8` as a secret with `prefix`; `nil` when nothing is.
    private static func fault(of utf8: UnsafeBufferPointer<UInt8>, prefix: String) -> SecretFormatError? {
        let prefixLength = prefix.utf8.count
        guard utf8.count == prefixLength + randomLength + checksumLength,
            prefix.withUTF8Bytes({ UnsafeBufferPointer(rebasing: utf8[..<prefixLength]).elementsEqual($0) }),
            utf8[prefixLength...].allSatisfy(Base62.contains)
        else { return .malformed }
        // The checksum's digits are compared where they stand, least significant last, without building its text.
        var value = UInt64(CRC32.checksum(UnsafeBufferPointer(rebasing: utf8[0..<(prefixLength + randomLength)])))
        for index in stride(from: utf8.count - 1, through: prefixLength + randomLength, by: -1) {
            guard utf8[index] == Base62.digit(Int(value % 62)) else { return .badChecksum }
            value /= 62
        }
        return nil
    }

    private static func checksum(of body: some Sequence<UInt8>) -> String {
        Base62.encode(UInt64(CRC32.checksum(body)), width: checksumLength)
    }
}
