/// The stored form of a secret: a keyed hash with a tag naming the scheme, so the scheme can be upgraded later
/// (as Vault does with its salted hashes). Text form: `<scheme>$<base64 digest>`.
public struct SecretDigest: Sendable, Hashable, CustomStringConvertible {
    /// The hashing schemes this build understands.
    public enum Scheme: String, Sendable {
        /// HMAC-SHA256 keyed with the server key.
        case hmacSHA256V1 = "hmac-sha256-v1"
    }

    /// The scheme that produced ``bytes``.
    public let scheme: Scheme
    /// The digest bytes.
    public let bytes: [UInt8]

    /// Builds a digest from its parts.
    public init(scheme: Scheme, bytes: [UInt8]) {
        self.scheme = scheme
        self.bytes = bytes
    }

    /// Parses the stored text form; `nil` for an unknown scheme or malformed text.
    public init?(storageString: String) {
        let parts = storageString.split(separator: "$", maxSplits: 1)
        guard parts.count == 2, let scheme = Scheme(rawValue: String(parts[0])),
            let bytes = Base64URL.decode(String(parts[1]))
        else { return nil }
        self.init(scheme: scheme, bytes: bytes)
    }

    /// The text form kept in the store.
    public var storageString: String { scheme.rawValue + "$" + Base64URL.encode(bytes) }

    public var description: String { scheme.rawValue + "$…" }
}
