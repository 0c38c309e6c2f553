import Crypto

/// Computes and checks keyed secret digests (HMAC-SHA256 under a key derived from the server key).
public struct SecretHasher: Sendable, CustomReflectable {
    // Not a pre-keyed `HMAC` copied per digest: that saved about 1 % of a request but crashed under concurrent
    // use in the test suite (swift-crypto's digest state is shared copy-on-write across the copies).
    private let key: SymmetricKey

    /// A hasher keyed by the server key.
    public init(serverKey: ServerKey) {
        self.key = serverKey.derivedKey(purpose: "cloudfleet token secret digest v1")
    }

    /// No children: `dump` and other reflection never show the key.
    public var customMirror: Mirror { Mirror(self, children: [Mirror.Child]()) }

    /// The digest to store for `secret`.
    public func digest(_ secret: TokenSecret) -> SecretDigest {
        digest(revealed: secret.reveal)
    }

    /// The digest to store for a cluster's webhook credential.
    public func digest(_ credential: WebhookCredential) -> SecretDigest {
        digest(revealed: credential.reveal)
    }

    /// The digest to store for a service credential.
    public func digest(_ credential: ServiceCredential) -> SecretDigest {
        digest(revealed: credential.reveal)
    }

    /// The digest to store for a console session or sign-in link; the store looks sessions up by it.
    public func digest(_ secret: ConsoleSecret) -> SecretDigest {
        digest(revealed: secret.reveal)
    }

    /// Whether `credential` matches `digest`, compared in constant time.
    public func verify(_ credential: ServiceCredential, against digest: SecretDigest) -> Bool {
        verify(revealed: credential.reveal, against: digest)
    }

    /// Whether `secret` matches `digest`, compared in constant time.
    public func verify(_ secret: TokenSecret, against digest: SecretDigest) -> Bool {
        verify(revealed: secret.reveal, against: digest)
    }

    /// Whether `credential` matches `digest`, compared in constant time.
    public func verify(_ credential: WebhookCredential, against digest: SecretDigest) -> Bool {
        verify(revealed: credential.reveal, against: digest)
    }

    // The prefixes of the secret kinds differ, so one key serves them all without a digest of one kind ever
    // matching another.
    private func digest(revealed: String) -> SecretDigest {
        var revealed = revealed
        let mac = revealed.withUTF8 { HMAC<SHA256>.authenticationCode(for: $0, using: key) }
        return SecretDigest(scheme: .hmacSHA256V1, bytes: Array(mac))
    }

    private func verify(revealed: String, against digest: SecretDigest) -> Bool {
        switch digest.scheme {
        case .hmacSHA256V1:
            return ConstantTime.equals(self.digest(revealed: revealed).bytes, digest.bytes)
        }
    }
}
