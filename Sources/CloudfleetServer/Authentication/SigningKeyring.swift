import CloudfleetCore
import CloudfleetStore
import Crypto
import Foundation
import JWTKit
import Logging
import Synchronization
import _CryptoExtras

/// The JWT signing keys: RS256 by default, stored in the database sealed under a key derived from the server
/// key, so every node that shares the database and the server key signs and verifies alike.
struct SigningKeyring: Sendable {
    /// The key collection that signs with ``currentKID`` and verifies with every loaded key.
    let keys: JWTKeyCollection
    /// The key id new tokens are signed with.
    let currentKID: String
    /// The public halves of every loaded key, as the JWKS publishes them.
    let publicJWKs: [PublicJWK]

    /// One RSA public key in JWK form (RFC 7517/7518), base64url without padding.
    struct PublicJWK: Codable, Sendable, Equatable {
        var kty = "RSA"
        var use = "sig"
        var alg = "RS256"
        let kid: String
        let n: String
        let e: String
    }

    /// How long a retired key still verifies: the longest access-token lifetime.
    static let retiredKeyGrace: TimeInterval = 86_400

    /// Loads the stored keys, creating the first one if there is none. Retired keys verify for
    /// ``retiredKeyGrace`` after their retirement, then are left out.
    static func load(store: some Store, serverKey: ServerKey, now: Date = Date()) async throws -> SigningKeyring {
        var records = try await store.signingKeys()
        if records.isEmpty {
            do {
                try await store.addSigningKey(try makeRecord(serverKey: serverKey, now: now))
            } catch StoreError.alreadyExists {
                // Another node created a key at the same moment; use what is stored.
            }
            records = try await store.signingKeys()
        }
        let sealingKey = Self.sealingKey(serverKey)
        let keys = JWTKeyCollection()
        var current: String?
        var publicJWKs: [PublicJWK] = []
        for record in records where record.algorithm == "RS256" {
            if let retiredAt = record.retiredAt, now.timeIntervalSince(retiredAt) > retiredKeyGrace { continue }
            let box = try AES.GCM.SealedBox(combined: record.sealedPrivateKey)
            let der = try AES.GCM.open(box, using: sealingKey)
            let backing = try _RSA.Signing.PrivateKey(derRepresentation: der)
            let privateKey = try Insecure.RSA.PrivateKey(backing: backing)
            let primitives = try backing.publicKey.getKeyPrimitives()
            publicJWKs.append(
                PublicJWK(kid: record.kid, n: Base64URL.encode(Array(primitives.modulus)), e: Base64URL.encode(Array(primitives.publicExponent))))
            await keys.add(rsa: privateKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: record.kid))
            if current == nil, record.retiredAt == nil { current = record.kid }
        }
        guard let current else { throw StoreError.corrupt("no usable signing key") }
        return SigningKeyring(keys: keys, currentKID: current, publicJWKs: publicJWKs)
    }

    /// A new RS256 key, sealed for storage.
    static func makeRecord(serverKey: ServerKey, now: Date) throws -> SigningKeyRecord {
        let privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let sealed = try AES.GCM.seal(Array(privateKey.derRepresentation), using: sealingKey(serverKey))
        guard let combined = sealed.combined else { throw StoreError.corrupt("cannot seal signing key") }
        return SigningKeyRecord(kid: Base62.random(length: 16), algorithm: "RS256", sealedPrivateKey: Array(combined), createdAt: now)
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
            logger.info("signing keys loaded", metadata: ["kid": "\(fresh.currentKID)"])
        } catch {
            logger.warning("could not reload the signing keys; keeping the current ones", metadata: ["error": "\(error)"])
        }
    }
}

/// Rotates the signing keys: a new key signs from now on; the previous one still verifies the tokens it signed.
public enum SigningKeyRotation {
    /// Creates and stores a new signing key, retiring the current one; returns the new key id.
    public static func rotate(store: any Store, serverKey: ServerKey, now: Date = Date()) async throws -> String {
        let record = try SigningKeyring.makeRecord(serverKey: serverKey, now: now)
        try await store.rotateSigningKey(to: record)
        return record.kid
    }
}
