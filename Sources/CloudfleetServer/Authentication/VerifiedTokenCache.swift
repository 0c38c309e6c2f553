import Crypto
import Foundation
import JWTKit
import Synchronization

/// Signed tokens whose signature has been verified, kept until they expire. Saves the parse and signature check
/// (tens of microseconds) on every request; everything else (issuer, audience, expiry, and the secret generation
/// against the current token state) is still checked each time.
///
/// An entry is found by a SHA-256 of the token's signature, the part that makes it a credential, and the rest of
/// the token (its signed header and payload: claims) must then match too, by length and by a 64-bit hash keyed
/// with a random salt of this process. The signature is 342 characters for RS256 (cluster tokens, 700–900 bytes
/// in all) and 86 for ES256 (access tokens, about 470), so hashing it rather than the whole token takes 6 SHA-256
/// blocks instead of 13 for an RS256 token, and an entry holds neither the token nor its header and payload, which
/// keeps a full cache about as small as before.
final class VerifiedTokenCache<Claims: ExpiringClaims>: Sendable {
    private struct Entry: Sendable {
        let claims: Claims
        let signedLength: Int
        let signedHash: Int
    }

    private let entries = Mutex<[SHA256Digest: Entry]>([:])
    private let capacity: Int
    private let salt: (UInt64, UInt64)

    init(capacity: Int = 100_000) {
        self.capacity = capacity
        var random = SystemRandomNumberGenerator()
        self.salt = (random.next(), random.next())
    }

    /// The claims of `token` if this token was verified and has not expired at `now`.
    func lookup(_ token: Substring, now: Date) -> Claims? {
        var token = token
        return token.withUTF8 { bytes -> Claims? in
            // Verified tokens are under 4 KiB (`Authenticator.hasJWTShape`): a longer one is not searched for.
            guard bytes.count < 4096, let (key, signedPart) = Self.split(bytes) else { return nil }
            let signedHash = hash(signedPart)
            return entries.withLock { entries -> Claims? in
                guard let entry = entries[key], entry.signedLength == signedPart.count, entry.signedHash == signedHash else {
                    return nil
                }
                if entry.claims.exp.value <= now {
                    entries.removeValue(forKey: key)
                    return nil
                }
                return entry.claims
            }
        }
    }

    /// Remembers that `token`, whose signature checked out, carries `claims`.
    func insert(_ token: Substring, claims: Claims, now: Date) {
        var token = token
        token.withUTF8 { bytes in
            guard let (key, signedPart) = Self.split(bytes) else { return }
            let entry = Entry(claims: claims, signedLength: signedPart.count, signedHash: hash(signedPart))
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

    private func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(salt.0)
        hasher.combine(salt.1)
        hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        return hasher.finalize()
    }

    /// The SHA-256 of the signature (after the last dot) and the signed part before that dot.
    private static func split(_ token: UnsafeBufferPointer<UInt8>) -> (SHA256Digest, UnsafeBufferPointer<UInt8>)? {
        guard let dot = lastDot(in: token) else { return nil }
        var hasher = SHA256()
        hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: token[(dot + 1)...])))
        return (hasher.finalize(), UnsafeBufferPointer(rebasing: token[..<dot]))
    }

    /// The index of the last `.` in `bytes`, found forward with `memchr` (Glibc offers no `memrchr` to Swift):
    /// `lastIndex(of:)` steps back over a 342-byte signature one byte at a time, a tenth of a microsecond.
    private static func lastDot(in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var last: Int?
        var start = 0
        while start < bytes.count, let found = memchr(base + start, Int32(UInt8(ascii: ".")), bytes.count - start) {
            let index = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
            last = index
            start = index + 1
        }
        return last
    }
}
