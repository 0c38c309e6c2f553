import Foundation

/// A JWT signing key as stored: the private key sealed (AES-GCM) under a key derived from the server key, so
/// a copy of the database alone cannot mint tokens.
public struct SigningKeyRecord: Sendable, Equatable {
    /// The key id published as `kid`.
    public var kid: String
    /// The JWS algorithm, such as `RS256`.
    public var algorithm: String
    public var sealedPrivateKey: [UInt8]
    public var createdAt: Date
    /// When the key stopped signing; it still verifies until every token it signed has expired.
    public var retiredAt: Date?

    public init(kid: String, algorithm: String, sealedPrivateKey: [UInt8], createdAt: Date, retiredAt: Date? = nil) {
        self.kid = kid
        self.algorithm = algorithm
        self.sealedPrivateKey = sealedPrivateKey
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}
