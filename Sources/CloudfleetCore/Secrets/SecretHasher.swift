import Crypto

/// Computes and checks keyed secret digests (HMAC-SHA256 under a key derived from the server key).
public struct SecretHasher: Sendable {
    private let key: SymmetricKey

    /// A hasher keyed by the server key.
    public init(serverKey: ServerKey) {
        self.key = serverKey.derivedKey(purpose: "cloudfleet token secret digest v1")
    }

    /// The digest to store for `secret`.
    public func digest(_ secret: TokenSecret) -> SecretDigest {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(secret.reveal.utf8), using: key)
        return SecretDigest(scheme: .hmacSHA256V1, bytes: Array(mac))
    }

    /// Whether `secret` matches `digest`, compared in constant time.
    public func verify(_ secret: TokenSecret, against digest: SecretDigest) -> Bool {
        switch digest.scheme {
        case .hmacSHA256V1:
            return ConstantTime.equals(self.digest(secret).bytes, digest.bytes)
        }
    }
}
