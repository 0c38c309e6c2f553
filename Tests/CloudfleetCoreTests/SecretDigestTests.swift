import CloudfleetCore
import Crypto
import Testing

@Suite struct SecretDigestTests {
    let hasher = SecretHasher(serverKey: .generate())

    @Test func digestVerifiesOnlyItsOwnSecret() {
        let secret = TokenSecret.generate()
        let digest = hasher.digest(secret)
        #expect(hasher.verify(secret, against: digest))
        #expect(!hasher.verify(TokenSecret.generate(), against: digest))
    }

    /// A presented secret is checked before it is parsed: only the exact text of the issued secret matches.
    @Test func aPresentedSecretMatchesOnlyAsIssued() {
        let secret = TokenSecret.generate()
        let digest = hasher.digest(secret)
        #expect(hasher.verify(presentedTokenSecret: secret.reveal, against: digest))
        for presented in [
            TokenSecret.generate().reveal, secret.reveal + "x", String(secret.reveal.dropLast()), secret.reveal.uppercased(), " " + secret.reveal, "",
        ] {
            #expect(!hasher.verify(presentedTokenSecret: presented, against: digest), "\(presented.count) characters")
        }
    }

    @Test func digestIsKeyedByTheServerKey() {
        let secret = TokenSecret.generate()
        let other = SecretHasher(serverKey: .generate())
        #expect(hasher.digest(secret) != other.digest(secret))
        #expect(!other.verify(secret, against: hasher.digest(secret)))
    }

    @Test func digestIsStableAcrossCallsAndHasherCopies() {
        // No call may change what the next computes, and copies of a hasher agree.
        let secret = TokenSecret.generate()
        let first = hasher.digest(secret)
        _ = hasher.digest(TokenSecret.generate())
        let copy = hasher
        #expect(hasher.digest(secret) == first)
        #expect(copy.digest(secret) == first)
        // And it is plain HMAC-SHA256 under the derived key, which stored digests of earlier versions used.
        let key = ServerKey(bytes: Array(0..<32 as Range<UInt8>))
        let plain = key.map {
            HMAC<SHA256>.authenticationCode(for: Array(secret.reveal.utf8), using: $0.derivedKey(purpose: "cloudfleet token secret digest v1"))
        }
        #expect(key.map { SecretHasher(serverKey: $0).digest(secret).bytes } == plain.map { Array($0) })
    }

    @Test func digestIsHMACSHA256ForEveryKeyAndSecretKind() {
        // The hasher composes HMAC from SHA-256 itself (RFC 2104); it must agree with swift-crypto's HMAC always.
        for _ in 0..<8 {
            let serverKey = ServerKey.generate()
            let key = serverKey.derivedKey(purpose: "cloudfleet token secret digest v1")
            let hasher = SecretHasher(serverKey: serverKey)
            for _ in 0..<50 {
                let secret = TokenSecret.generate()
                let webhook = WebhookCredential.generate()
                let service = ServiceCredential.generate()
                #expect(hasher.digest(secret).bytes == Array(HMAC<SHA256>.authenticationCode(for: Array(secret.reveal.utf8), using: key)))
                #expect(hasher.digest(webhook).bytes == Array(HMAC<SHA256>.authenticationCode(for: Array(webhook.reveal.utf8), using: key)))
                #expect(hasher.digest(service).bytes == Array(HMAC<SHA256>.authenticationCode(for: Array(service.reveal.utf8), using: key)))
            }
        }
    }

    @Test func concurrentDigestsAgree() async {
        // Every request hashes on its own thread with one shared hasher.
        let secrets = (0..<64).map { _ in TokenSecret.generate() }
        let expected = secrets.map { hasher.digest($0) }
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { [hasher] in
                    (0..<50).allSatisfy { _ in secrets.map { hasher.digest($0) } == expected }
                }
            }
            for await agreed in group { #expect(agreed) }
        }
    }

    @Test func reflectionShowsNoKeyMaterial() {
        var dumped = ""
        dump(hasher, to: &dumped)
        #expect(Mirror(reflecting: hasher).children.isEmpty)
        #expect(!dumped.contains("HMAC") && !dumped.contains("key"))
    }

    @Test func storageFormIsTaggedAndRoundTrips() throws {
        let digest = hasher.digest(TokenSecret.generate())
        let stored = digest.storageString
        #expect(stored.hasPrefix("hmac-sha256-v1$"))
        #expect(SecretDigest(storageString: stored) == digest)
        #expect(SecretDigest(storageString: "md5$abcd") == nil)
        #expect(SecretDigest(storageString: "no-separator") == nil)
    }

    @Test func storageFormDoesNotContainTheSecret() {
        let secret = TokenSecret.generate()
        #expect(!hasher.digest(secret).storageString.contains(secret.reveal.dropFirst(4)))
    }

    @Test func constantTimeEqualityComparesEveryByte() {
        // The collection form and the raw-buffer form (which `verify` uses) answer alike.
        let forms: [([UInt8], [UInt8]) -> Bool] = [
            { ConstantTime.equals($0, $1) },
            { lhs, rhs in lhs.withUnsafeBytes { lhs in rhs.withUnsafeBytes { ConstantTime.equals(lhs, $0) } } },
        ]
        let bytes: [UInt8] = Array(0..<32)
        for equals in forms {
            #expect(equals(bytes, bytes))
            for index in bytes.indices {
                var changed = bytes
                changed[index] ^= 0x01
                #expect(!equals(bytes, changed))
            }
            #expect(!equals(bytes, Array(bytes.dropLast())))
            #expect(!equals(bytes, bytes + [0]))
        }
    }

    @Test func serverKeyRequires32Bytes() {
        #expect(ServerKey(bytes: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(ServerKey(bytes: [UInt8](repeating: 1, count: 32)) != nil)
        #expect("\(ServerKey.generate())" == "ServerKey([REDACTED])")
    }
}
