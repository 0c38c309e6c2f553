/// A credential of a service that is not a token of an organization: a secret scanner reporting leaked secrets,
/// or a Prometheus scraper. `cfsvc_`, 40 base62 characters from a CSPRNG and a checksum; stored as a keyed
/// digest and shown once, by `cloudfleet-server admin create-service-credential`.
public struct ServiceCredential: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// What a service credential may do.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// `POST /v1/secrets/report`.
        case secretScanner = "secret-scanner"
        /// `GET /metrics`.
        case metrics
    }

    public static let prefix = "cfsvc_"

    private let value: String

    public init(parsing string: some StringProtocol) throws(SecretFormatError) {
        try ChecksummedSecretFormat.validate(string, prefix: Self.prefix)
        self.value = String(string)
    }

    public static func generate() -> ServiceCredential {
        ServiceCredential(unchecked: ChecksummedSecretFormat.generate(prefix: prefix))
    }

    private init(unchecked value: String) {
        self.value = value
    }

    public var reveal: String { value }
    public var description: String { "cfsvc_[REDACTED]" }
    public var debugDescription: String { description }
    /// No children: `dump` and other reflection show the redacted description, never the stored value.
    public var customMirror: Mirror { Mirror(self, children: [Mirror.Child]()) }
}
