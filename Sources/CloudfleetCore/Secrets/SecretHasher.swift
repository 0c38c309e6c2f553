import Crypto

/// Computes and checks keyed secret digests (HMAC-SHA256 under a key derived from the server key).
public struct SecretHasher: Sendable, CustomReflectable {
    /// SHA-256 states that have absorbed the key XOR-ed with HMAC's inner and outer pads (RFC 2104), computed
    /// once. Every digest continues copies of them: the same bytes as `HMAC<SHA256>`, two SHA-256 blocks fewer,
    /// and none of the arrays, the `SymmetricKey` and the unspecialized generic updates of keying an HMAC on
    /// every request. The copies share nothing once written to (swift-crypto's digest state is copy-on-write).
    private let innerState: SHA256
    private let outerState: SHA256

    /// A hasher keyed by the server key.
    public init(serverKey: ServerKey) {
        let key = serverKey.derivedKey(purpose: "cloudfleet token secret digest v1")
        // Keys longer than a block are hashed first; shorter ones are padded with zeros (RFC 2104 §2).
        var block = [UInt8](repeating: 0, count: SHA256.blockByteCount)
        key.withUnsafeBytes { bytes in
            if bytes.count > block.count {
                SHA256.hash(data: bytes).withUnsafeBytes { block.replaceSubrange(0..<$0.count, with: $0) }
            } else {
                block.replaceSubrange(0..<bytes.count, with: bytes)
            }
        }
        var innerPad = block.map { $0 ^ 0x36 }
        var outerPad = block.map { $0 ^ 0x5C }
        var inner = SHA256()
        innerPad.withUnsafeBytes { inner.update(bufferPointer: $0) }
        var outer = SHA256()
        outerPad.withUnsafeBytes { outer.update(bufferPointer: $0) }
        for index in block.indices {
            block[index] = 0
            innerPad[index] = 0
            outerPad[index] = 0
        }
        self.innerState = inner
        self.outerState = outer
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

    /// Whether `presented`, a token secret as the client sent it and not yet parsed, matches the digest of a token's
    /// secret, compared in constant time. Only the secret issued for that token matches, and it was issued
    /// well-formed, so a match needs no parse; without one, parse (``TokenSecret/init(parsing:)``) to tell a
    /// malformed secret from a wrong one.
    public func verify(presentedTokenSecret presented: String, against digest: SecretDigest) -> Bool {
        verify(revealed: presented, against: digest)
    }

    /// Whether `credential` matches `digest`, compared in constant time.
    public func verify(_ credential: WebhookCredential, against digest: SecretDigest) -> Bool {
        verify(revealed: credential.reveal, against: digest)
    }

    // The prefixes of the secret kinds differ, so one key serves them all without a digest of one kind ever
    // matching another.
    private func digest(revealed: String) -> SecretDigest {
        SecretDigest(scheme: .hmacSHA256V1, bytes: mac(revealed).withUnsafeBytes { [UInt8]($0) })
    }

    /// HMAC-SHA256 of `revealed` under the hasher's key.
    private func mac(_ revealed: String) -> SHA256Digest {
        var inner = innerState
        revealed.withUTF8Bytes { inner.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let innerDigest = inner.finalize()
        var outer = outerState
        innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }

    private func verify(revealed: String, against digest: SecretDigest) -> Bool {
        switch digest.scheme {
        case .hmacSHA256V1:
            // Compared where the MAC stands, without an array of it (an allocation on each Basic authentication).
            return mac(revealed).withUnsafeBytes { mac in digest.bytes.withUnsafeBytes { ConstantTime.equals(mac, $0) } }
        }
    }
}
