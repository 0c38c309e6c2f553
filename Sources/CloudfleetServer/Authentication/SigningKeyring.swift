import CloudfleetCore
import CloudfleetStore
import Crypto
import Foundation
import JWTKit
import Logging
import Synchronization
import _CryptoExtras

/// The algorithm a signing key signs with (architecture §4): RS256 by default, the one every kube-apiserver accepts
/// without flags (EKS offers no choice); ES256 signs about twenty times faster and makes tokens about 250 bytes
/// shorter, for deployments whose clusters accept it. A key keeps its algorithm; a rotation chooses the next one.
public enum SigningAlgorithm: String, CaseIterable, Sendable {
    case rs256 = "RS256"
    case es256 = "ES256"
}

/// The JWT signing keys, stored in the database sealed under a key derived from the server key, so every node that
/// shares the database and the server key signs and verifies alike.
///
/// Access tokens are always ES256. Cluster tokens are verified by kube-apiservers, which is why the signing key is
/// RS256 unless an operator rotates to ES256 (architecture §4); access tokens are verified by this service alone, so
/// while the signing key is RS256 they are signed by an ES256 key of their own, its *access-token companion*:
/// derived from the server key and the signing key's id (``accessTokenKey(companionOf:serverKey:)``), so every node
/// has it without storing it, and a rotation replaces it along with the signing key. It signs twenty times faster
/// and makes each Bearer request about 250 bytes shorter (docs/decisions.md). Companions are never published: the
/// JWKS and the discovery document are the OIDC issuer's, for cluster tokens.
struct SigningKeyring: Sendable {
    /// The stored keys: sign cluster tokens with ``currentKID`` and verify them with every loaded key. What the JWKS
    /// publishes.
    let keys: JWTKeyCollection
    /// The key id cluster tokens are signed with.
    let currentKID: String
    /// The stored keys (which signed access tokens before there were companions) and the companions of the RS256
    /// ones: sign access tokens with ``accessKID`` and verify them.
    let accessKeys: JWTKeyCollection
    /// The key id access tokens are signed with: the current key if it is ES256, otherwise its companion.
    let accessKID: String
    /// The public halves of every loaded key, as the JWKS publishes them.
    let publicJWKs: [PublicJWK]
    /// The algorithms of the loaded keys, the current key's first: what the discovery document announces.
    let algorithms: [SigningAlgorithm]

    /// One public key in JWK form (RFC 7517/7518), its numbers base64url without padding: `n` and `e` for RSA,
    /// `crv`, `x` and `y` for EC. The members a key type does not have are left out.
    struct PublicJWK: Codable, Sendable, Equatable {
        let kty: String
        var use = "sig"
        let alg: String
        let kid: String
        var n: String?
        var e: String?
        var crv: String?
        var x: String?
        var y: String?

        static func rsa(kid: String, modulus: some Collection<UInt8>, exponent: some Collection<UInt8>) -> PublicJWK {
            PublicJWK(
                kty: "RSA", alg: SigningAlgorithm.rs256.rawValue, kid: kid, n: Base64URL.encode(Array(modulus)), e: Base64URL.encode(Array(exponent)))
        }

        /// A P-256 key from its uncompressed point (`04 ‖ x ‖ y`, as `x963Representation` gives it).
        static func p256(kid: String, point: some Collection<UInt8>) -> PublicJWK {
            let coordinates = Array(point.dropFirst())
            return PublicJWK(
                kty: "EC", alg: SigningAlgorithm.es256.rawValue, kid: kid, crv: "P-256", x: Base64URL.encode(Array(coordinates.prefix(32))),
                y: Base64URL.encode(Array(coordinates.suffix(32))))
        }
    }

    /// How long a retired key still verifies: the longest access-token lifetime.
    static let retiredKeyGrace: TimeInterval = 86_400

    /// Loads the stored keys, creating the first one (RS256) if there is none. Retired keys verify for
    /// ``retiredKeyGrace`` after their retirement, then are left out, as are keys of an algorithm this build does not
    /// know.
    static func load(store: some Store, serverKey: ServerKey, now: Date = Date()) async throws -> SigningKeyring {
        var records = try await store.signingKeys()
        if records.isEmpty {
            do {
                try await store.addSigningKey(try makeRecord(serverKey: serverKey, algorithm: .rs256, now: now))
            } catch StoreError.alreadyExists {
                // Another node created a key at the same moment; use what is stored.
            }
            records = try await store.signingKeys()
        }
        let sealingKey = Self.sealingKey(serverKey)
        let keys = JWTKeyCollection()
        let accessKeys = JWTKeyCollection()
        var current: (kid: String, algorithm: SigningAlgorithm)?
        var publicJWKs: [PublicJWK] = []
        var algorithms: [SigningAlgorithm] = []
        for record in records {
            guard let algorithm = SigningAlgorithm(rawValue: record.algorithm) else { continue }
            if let retiredAt = record.retiredAt, now.timeIntervalSince(retiredAt) > retiredKeyGrace { continue }
            let box = try AES.GCM.SealedBox(combined: record.sealedPrivateKey)
            let der = try AES.GCM.open(box, using: sealingKey)
            let kid = JWKIdentifier(string: record.kid)
            switch algorithm {
            case .rs256:
                let backing = try _RSA.Signing.PrivateKey(derRepresentation: der)
                let primitives = try backing.publicKey.getKeyPrimitives()
                publicJWKs.append(.rsa(kid: record.kid, modulus: primitives.modulus, exponent: primitives.publicExponent))
                let key = try Insecure.RSA.PrivateKey(backing: backing)
                await keys.add(rsa: key, digestAlgorithm: .sha256, kid: kid)
                await accessKeys.add(rsa: key, digestAlgorithm: .sha256, kid: kid)
                let companion = try accessTokenKey(companionOf: record.kid, serverKey: serverKey)
                await accessKeys.add(ecdsa: companion, kid: JWKIdentifier(string: companionKID(of: record.kid)))
            case .es256:
                let backing = try P256.Signing.PrivateKey(derRepresentation: der)
                publicJWKs.append(.p256(kid: record.kid, point: backing.publicKey.x963Representation))
                let key = try ES256PrivateKey(backing: backing)
                await keys.add(ecdsa: key, kid: kid)
                await accessKeys.add(ecdsa: key, kid: kid)
            }
            if !algorithms.contains(algorithm) { algorithms.append(algorithm) }
            if current == nil, record.retiredAt == nil { current = (record.kid, algorithm) }
        }
        guard let current else { throw StoreError.corrupt("no usable signing key") }
        algorithms.removeAll { $0 == current.algorithm }
        return SigningKeyring(
            keys: keys, currentKID: current.kid, accessKeys: accessKeys,
            accessKID: current.algorithm == .es256 ? current.kid : companionKID(of: current.kid), publicJWKs: publicJWKs,
            algorithms: [current.algorithm] + algorithms)
    }

    /// The id of the access-token companion of the RS256 key `kid`: stored ids are base62, so none has a `-`.
    static func companionKID(of kid: String) -> String { kid + "-a" }

    /// The access-token companion of the RS256 key `kid`: a P-256 key whose scalar is derived with HKDF from the server
    /// key and `kid`. A derived value is not a valid scalar (zero, or not below the group's order) with a chance of
    /// about 2⁻³², so the next counter is tried then.
    static func accessTokenKey(companionOf kid: String, serverKey: ServerKey) throws -> ES256PrivateKey {
        for counter in 0..<4 {
            let scalar = serverKey.derivedKey(purpose: "cloudfleet access token key v1 \(counter) \(kid)")
            if let key = try? scalar.withUnsafeBytes({ try P256.Signing.PrivateKey(rawRepresentation: $0) }) {
                return try ES256PrivateKey(backing: key)
            }
        }
        throw StoreError.corrupt("cannot derive an access-token key for \(kid)")
    }

    /// A new key of `algorithm`, sealed for storage.
    static func makeRecord(serverKey: ServerKey, algorithm: SigningAlgorithm, now: Date) throws -> SigningKeyRecord {
        let der: Data
        switch algorithm {
        case .rs256: der = try _RSA.Signing.PrivateKey(keySize: .bits2048).derRepresentation
        case .es256: der = P256.Signing.PrivateKey().derRepresentation
        }
        let sealed = try AES.GCM.seal(Array(der), using: sealingKey(serverKey))
        guard let combined = sealed.combined else { throw StoreError.corrupt("cannot seal signing key") }
        return SigningKeyRecord(kid: Base62.random(length: 16), algorithm: algorithm.rawValue, sealedPrivateKey: Array(combined), createdAt: now)
    }

    private static func sealingKey(_ serverKey: ServerKey) -> SymmetricKey {
        serverKey.derivedKey(purpose: "cloudfleet signing key seal v1")
    }
}

/// The keyring in force, replaced when the keys are rotated (on this node or, through the change feed, on another).
final class SigningKeys: Sendable {
    private let keyring: Mutex<SigningKeyring>
    private let store: any Store
    private let serverKey: ServerKey
    private let logger: Logger
    private let clock: @Sendable () -> Date

    init(_ keyring: SigningKeyring, store: any Store, serverKey: ServerKey, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.keyring = Mutex(keyring)
        self.store = store
        self.serverKey = serverKey
        self.logger = logger
        self.clock = clock
    }

    var current: SigningKeyring { keyring.withLock { $0 } }

    /// Reads the stored keys again; on failure the keyring in force stays.
    func reload() async {
        do {
            let fresh = try await SigningKeyring.load(store: store, serverKey: serverKey, now: clock())
            keyring.withLock { $0 = fresh }
            logger.info("signing keys loaded", metadata: ["kid": "\(fresh.currentKID)", "access_kid": "\(fresh.accessKID)"])
        } catch {
            logger.warning("could not reload the signing keys; keeping the current ones", metadata: ["error": "\(error)"])
        }
    }
}

/// Rotates the signing keys: a new key signs from now on; the previous one still verifies the tokens it signed.
public enum SigningKeyRotation {
    /// Creates and stores a new signing key of `algorithm`, retiring the current one; returns the new key id.
    public static func rotate(store: any Store, serverKey: ServerKey, algorithm: SigningAlgorithm = .rs256, now: Date = Date()) async throws
        -> String
    {
        let record = try SigningKeyring.makeRecord(serverKey: serverKey, algorithm: algorithm, now: now)
        try await store.rotateSigningKey(to: record)
        return record.kid
    }
}
