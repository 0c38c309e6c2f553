/// A secret of the web console: the value of a session cookie (`cfsess_`) or of a break-glass sign-in link
/// (`cfsl_`). 40 base62 characters from a CSPRNG and a checksum, like every other secret here; the server
/// stores only its keyed digest, so a copy of the database signs nobody in.
public struct ConsoleSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What the secret opens.
    public enum Kind: String, Sendable, CaseIterable {
        /// A signed-in session, carried in an HttpOnly cookie.
        case session
        /// A single-use sign-in link printed by `cloudfleet-server admin sign-in-link`.
        case signInLink

        /// The fixed prefix of secrets of this kind.
        public var prefix: String {
            switch self {
            case .session: "cfsess_"
            case .signInLink: "cfsl_"
            }
        }
    }

    /// What the secret opens.
    public let kind: Kind
    private let value: String

    /// Parses a secret of `kind`, checking its format and checksum without any I/O.
    public init(parsing string: some StringProtocol, kind: Kind) throws(SecretFormatError) {
        try ChecksummedSecretFormat.validate(string, prefix: kind.prefix)
        self.kind = kind
        self.value = String(string)
    }

    /// A new random secret of `kind`.
    public static func generate(_ kind: Kind) -> ConsoleSecret {
        ConsoleSecret(kind: kind, unchecked: ChecksummedSecretFormat.generate(prefix: kind.prefix))
    }

    private init(kind: Kind, unchecked value: String) {
        self.kind = kind
        self.value = value
    }

    /// The secret itself. Call only where it is meant to be sent (the cookie, the printed link) or hashed.
    public var reveal: String { value }

    public var description: String { "\(kind.prefix)[REDACTED]" }
    public var debugDescription: String { description }
}
