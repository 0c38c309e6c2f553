import CloudfleetCore
import Foundation

/// A credential of a service (a secret scanner, a metrics scraper) as stored: its keyed digest, never the value.
public struct ServiceCredentialRecord: Sendable, Equatable {
    public var id: UUID
    public var kind: ServiceCredential.Kind
    /// Who the service is, such as `github-secret-scanning`; recorded with what it does.
    public var name: String
    public var digest: SecretDigest
    public var createdAt: Date

    public init(id: UUID = UUID(), kind: ServiceCredential.Kind, name: String, digest: SecretDigest, createdAt: Date) {
        self.id = id
        self.kind = kind
        self.name = name
        self.digest = digest
        self.createdAt = createdAt
    }
}
