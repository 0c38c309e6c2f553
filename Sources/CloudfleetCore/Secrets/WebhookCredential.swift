/// The credential a cluster's kube-apiserver presents to the TokenReview webhook: `cfwh_`, 40 base62 characters
/// from a CSPRNG and a 6-character checksum, stored only as a keyed digest.
///
/// It proves the caller is that cluster's API server, so the webhook cannot be used as an oracle to test
/// stolen tokens. Like ``TokenSecret`` it is redacted in every description.
public struct WebhookCredential: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The fixed prefix of every webhook credential.
    public static let prefix = "cfwh_"

    private let value: String

    /// Parses a credential, checking its format and checksum without any I/O.
    public init(parsing string: some StringProtocol) throws(SecretFormatError) {
        try ChecksummedSecretFormat.validate(string, prefix: Self.prefix)
        self.value = String(string)
    }

    /// A new random credential.
    public static func generate() -> WebhookCredential {
        WebhookCredential(unchecked: ChecksummedSecretFormat.generate(prefix: prefix))
    }

    private init(unchecked value: String) {
        self.value = value
    }

    /// The credential itself. Call only where it is meant to be shown or hashed.
    public var reveal: String { value }

    public var description: String { "cfwh_[REDACTED]" }
    public var debugDescription: String { description }
    /// No children: `dump` and other reflection show the redacted description, never the stored value.
    public var customMirror: Mirror { Mirror(self, children: [Mirror.Child]()) }
}
