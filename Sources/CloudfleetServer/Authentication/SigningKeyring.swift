import CloudfleetCore
import CloudfleetStore
import Crypto
import Foundation
import JWTKit
import _CryptoExtras

/// The JWT signing keys: RS256 by default, stored in the database sealed under a key derived from the server
/// key, so every node that shares the database and the server key signs and verifies alike.
struct SigningKeyring: Sendable {
    /// The key collection that signs with ``currentKID`` and verifies with every loaded key.
    let keys: JWTKeyCollection
    /// The key id new tokens are signed with.
    let currentKID: String

    /// Loads the stored keys, creating the first one if there is none.
    static func load(store: some Store, serverKey: ServerKey, now: Date = Date()) async throws -> SigningKeyring {
        let sealingKey = serverKey.derivedKey(purpose: "cloudfleet signing key seal v1")
        var records = try await store.signingKeys()
        if records.isEmpty {
            let privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let sealed = try AES.GCM.seal(Array(privateKey.derRepresentation), using: sealingKey)
            guard let combined = sealed.combined else { throw StoreError.corrupt("cannot seal signing key") }
            let record = SigningKeyRecord(
                kid: Base62.random(length: 16), algorithm: "RS256", sealedPrivateKey: Array(combined), createdAt: now)
            do {
                try await store.addSigningKey(record)
            } catch StoreError.alreadyExists {
                // Another node created a key at the same moment; use what is stored.
            }
            records = try await store.signingKeys()
        }
        let keys = JWTKeyCollection()
        var current: String?
        for record in records where record.algorithm == "RS256" {
            let box = try AES.GCM.SealedBox(combined: record.sealedPrivateKey)
            let der = try AES.GCM.open(box, using: sealingKey)
            let privateKey = try Insecure.RSA.PrivateKey(backing: try _RSA.Signing.PrivateKey(derRepresentation: der))
            await keys.add(rsa: privateKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: record.kid))
            if current == nil, record.retiredAt == nil { current = record.kid }
        }
        guard let current else { throw StoreError.corrupt("no usable signing key") }
        return SigningKeyring(keys: keys, currentKID: current)
    }
}
