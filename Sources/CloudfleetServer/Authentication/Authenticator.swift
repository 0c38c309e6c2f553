import CloudfleetCore
import CloudfleetStore
import Crypto
import Foundation
import JWTKit
import Logging
import Synchronization

/// Turns credentials into a ``Principal``: HTTP Basic `token_id:secret`, or a Bearer access token minted by
/// `/v1/auth/token`. Both paths read the token's current state, so regeneration, deletion and role changes
/// take effect at once.
struct Authenticator: Sendable {
    /// Why authentication failed. Logged at debug level, never shown to the client.
    enum Failure: Error, Equatable {
        case malformed
        case unknownToken
        case wrongSecret
        case expired
        case staleGeneration
        case invalidAccessToken
    }

    let store: any Store
    let cache: VerificationCache
    let hasher: SecretHasher
    let signingKeys: SigningKeys
    let issuer: String
    let audience: String
    let accessTokenLifetime: TimeInterval
    let verifiedAccessTokens: AccessTokenCache
    let clock: @Sendable () -> Date

    // MARK: Secrets

    /// The current state of a token whose secret is `secret`.
    func verify(tokenID: TokenID, secret: TokenSecret) async throws -> TokenVerificationState {
        let state = try await currentState(of: tokenID)
        guard hasher.verify(secret, against: state.secretDigest) else { throw Failure.wrongSecret }
        try checkExpiry(state)
        return state
    }

    /// Authenticates `Authorization: Basic base64(id:secret)` credentials given as ID and secret text.
    func verify(tokenID rawID: String, secret rawSecret: String) async throws -> TokenVerificationState {
        // Foreign formats are refused before any lookup.
        guard let id = TokenID(rawID), let secret = try? TokenSecret(parsing: rawSecret) else { throw Failure.malformed }
        return try await verify(tokenID: id, secret: secret)
    }

    // MARK: Access tokens

    /// Mints an access token for a verified token.
    func issueAccessToken(for state: TokenVerificationState) async throws -> (token: String, expiresIn: Int) {
        // Whole seconds: NumericDate consumers such as the kube-apiserver expect integers.
        let now = Date(timeIntervalSince1970: clock().timeIntervalSince1970.rounded(.down))
        let claims = AccessTokenClaims(
            iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: state.id.rawValue), aud: AudienceClaim(value: [audience]),
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(accessTokenLifetime)),
            jti: IDClaim(value: Base62.random(length: 22)), org: state.organizationID.description, role: state.role.rawValue,
            gen: state.secretGeneration)
        let keyring = signingKeys.current
        let token = try await keyring.keys.sign(claims, kid: JWKIdentifier(string: keyring.currentKID))
        return (token, Int(accessTokenLifetime))
    }

    /// The current state of the token behind a Bearer access token, if the access token is valid now.
    func verify(accessToken: String) async throws -> TokenVerificationState {
        let dots = accessToken.utf8.reduce(0) { $1 == UInt8(ascii: ".") ? $0 + 1 : $0 }
        guard accessToken.utf8.count < 4096, dots == 2 else {
            throw Failure.malformed
        }
        let now = clock()
        let claims: AccessTokenClaims
        if let cached = verifiedAccessTokens.lookup(accessToken, now: now) {
            claims = cached
        } else {
            do {
                claims = try await signingKeys.current.keys.verify(accessToken, as: AccessTokenClaims.self)
                try claims.aud.verifyIntendedAudience(includes: audience)
            } catch {
                throw Failure.invalidAccessToken
            }
            guard claims.iss.value == issuer else { throw Failure.invalidAccessToken }
            verifiedAccessTokens.insert(accessToken, claims: claims, now: now)
        }
        guard claims.exp.value > now else { throw Failure.expired }
        guard let id = TokenID(claims.sub.value) else { throw Failure.invalidAccessToken }
        let state = try await currentState(of: id)
        guard state.organizationID.description == claims.org else { throw Failure.invalidAccessToken }
        guard state.secretGeneration == claims.gen else { throw Failure.staleGeneration }
        try checkExpiry(state)
        return state
    }

    // MARK: State

    func currentState(of id: TokenID) async throws -> TokenVerificationState {
        let (cached, epoch) = cache.lookup(id)
        if let cached { return cached }
        guard let token = try await store.token(id: id) else { throw Failure.unknownToken }
        let state = TokenVerificationState(token)
        cache.fill(state, epoch: epoch)
        return state
    }

    func checkExpiry(_ state: TokenVerificationState) throws {
        if let expiresAt = state.expiresAt, expiresAt <= clock() { throw Failure.expired }
    }
}

/// Access tokens whose signature has been verified, keyed by a SHA-256 of the token, kept until they expire.
/// Saves the signature check (tens of microseconds) on every request; the secret generation is still checked
/// against the current token state each time.
final class AccessTokenCache: Sendable {
    private let entries = Mutex<[SHA256Digest: AccessTokenClaims]>([:])
    private let capacity: Int

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    func lookup(_ token: String, now: Date) -> AccessTokenClaims? {
        let key = SHA256.hash(data: Array(token.utf8))
        return entries.withLock { entries in
            guard let claims = entries[key] else { return nil }
            if claims.exp.value <= now {
                entries.removeValue(forKey: key)
                return nil
            }
            return claims
        }
    }

    func insert(_ token: String, claims: AccessTokenClaims, now: Date) {
        let key = SHA256.hash(data: Array(token.utf8))
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.exp.value > now }
                if entries.count >= capacity { entries.removeAll() }
            }
            entries[key] = claims
        }
    }
}
