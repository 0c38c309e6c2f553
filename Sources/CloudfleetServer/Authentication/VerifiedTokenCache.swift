import Crypto
import Foundation
import JWTKit
import Synchronization

/// Signed tokens whose signature has been verified, kept until they expire. Saves the parse and signature check
/// (tens of microseconds) on every request; everything else (issuer, audience, expiry, and the secret generation
/// against the current token state) is still checked each time.
///
/// An entry is found by a SHA-256 of the token's signature and must then match the rest of the token (its signed
/// header and payload, which are claims, not a credential) byte for byte: only the very token that was verified
/// finds it. Hashing the 86-byte signature rather than the whole token (700–900 bytes) saves eleven of the thirteen
/// SHA-256 blocks on each request; the cache never holds a token whole.
final class VerifiedTokenCache<Claims: ExpiringClaims>: Sendable {
    private struct Entry: Sendable {
        let claims: Claims
        let signedPart: [UInt8]
    }

    private let entries = Mutex<[SHA256Digest: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    /// The claims of `token` if this exact token was verified and has not expired at `now`.
    func lookup(_ token: String, now: Date) -> Claims? {
        var token = token
        return token.withUTF8 { bytes -> Claims? in
            // Verified tokens are under 4 KiB (`Authenticator.hasJWTShape`): a longer one is not searched for.
            guard bytes.count < 4096, let (key, signedPart) = Self.split(bytes) else { return nil }
            return entries.withLock { entries -> Claims? in
                guard let entry = entries[key], Self.same(entry.signedPart, signedPart) else { return nil }
                if entry.claims.exp.value <= now {
                    entries.removeValue(forKey: key)
                    return nil
                }
                return entry.claims
            }
        }
    }

    /// Remembers that `token`, whose signature checked out, carries `claims`.
    func insert(_ token: String, claims: Claims, now: Date) {
        var token = token
        token.withUTF8 { bytes in
            guard let (key, signedPart) = Self.split(bytes) else { return }
            let entry = Entry(claims: claims, signedPart: Array(signedPart))
            entries.withLock { entries in
                if entries.count >= capacity {
                    entries = entries.filter { $0.value.claims.exp.value > now }
                    if entries.count >= capacity { entries.removeAll() }
                }
                entries[key] = entry
            }
        }
    }

    /// The number of cached tokens.
    var count: Int { entries.withLock { $0.count } }

    private static func same(_ stored: [UInt8], _ presented: UnsafeBufferPointer<UInt8>) -> Bool {
        guard stored.count == presented.count else { return false }
        return stored.withUnsafeBufferPointer { stored in
            guard let lhs = stored.baseAddress, let rhs = presented.baseAddress else { return stored.isEmpty }
            return memcmp(lhs, rhs, stored.count) == 0
        }
    }

    /// The SHA-256 of the signature (after the last dot) and the signed part before that dot.
    private static func split(_ token: UnsafeBufferPointer<UInt8>) -> (SHA256Digest, UnsafeBufferPointer<UInt8>)? {
        guard let dot = token.lastIndex(of: UInt8(ascii: ".")) else { return nil }
        var hasher = SHA256()
        hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: token[(dot + 1)...])))
        return (hasher.finalize(), UnsafeBufferPointer(rebasing: token[..<dot]))
    }
}
