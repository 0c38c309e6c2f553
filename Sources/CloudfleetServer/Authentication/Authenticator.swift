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
        /// The token exists (in this organization) but the secret is not its current or accepted previous one.
        case wrongSecret(TokenID, OrganizationID)
        /// The token's secret was right but the token expired at this instant.
        case expired(Date)
        case staleGeneration
        case invalidAccessToken
        /// Not in the verification cache, and the caller asked not to read the store (a rate-limited source).
        case notCached
    }

    /// A token whose credentials checked out, and which of its secrets was used.
    struct Verified: Sendable {
        let state: TokenVerificationState
        let slot: SecretSlot

        /// The secret generation of the secret that was used: what access and cluster tokens minted now carry.
        var generation: Int {
            slot == .previous ? (state.previousSecret?.generation ?? state.secretGeneration - 1) : state.secretGeneration
        }
    }

    let store: any Store
    let cache: VerificationCache
    let hasher: SecretHasher
    let signingKeys: SigningKeys
    let issuer: String
    let audience: String
    let accessTokenLifetime: TimeInterval
    let verifiedAccessTokens: AccessTokenCache
    /// Shared by every copy of this authenticator (a reference), like the other caches.
    let verifiedClusterTokens = ClusterTokenCache()
    let usage: UsageRecorder
    let rotation: SecretRotation
    let metrics: ServerMetrics
    let clock: @Sendable () -> Date

    // MARK: Secrets

    /// Authenticates `Authorization: Basic base64(id:secret)` credentials given as ID and secret text: the current
    /// state of the token whose current secret is `rawSecret` at `now`, or whose previous one while a
    /// regeneration's grace period keeps it. With `storeLookup` false only cached tokens are checked. Foreign
    /// formats are refused before the store is read (`verifyFromCaches`, which the gate calls first, compares a cached
    /// token's digests with the secret as presented; a secret that matched neither is parsed here).
    nonisolated(nonsending) func verify(tokenID rawID: String, secret rawSecret: String, at now: Date, storeLookup: Bool = true) async throws
        -> Verified
    {
        guard let id = TokenID(rawID), let secret = try? TokenSecret(parsing: rawSecret) else { throw Failure.malformed }
        let state = try await currentState(of: id, storeLookup: storeLookup)
        guard let slot = slot(of: secret.reveal, in: state, at: now) else { throw Failure.wrongSecret(state.id, state.organizationID) }
        try checkExpiry(state, at: now)
        return Verified(state: state, slot: slot)
    }

    /// Which secret of `state` `presented` is: the current one, the previous one while it is accepted at `now`, or
    /// neither.
    private func slot(of presented: String, in state: TokenVerificationState, at now: Date) -> SecretSlot? {
        if hasher.verify(presentedTokenSecret: presented, against: state.secretDigest) { return .current }
        if let previous = state.previousSecret, hasher.verify(presentedTokenSecret: presented, against: previous.digest),
            acceptsPrevious(state, at: now)
        {
            return .previous
        }
        return nil
    }

    /// Whether the previous secret of `state` is still accepted at `now`.
    func acceptsPrevious(_ state: TokenVerificationState, at now: Date) -> Bool {
        guard let previous = state.previousSecret else { return false }
        let local = usage.localUses(of: state.id)
        // This node's uses are kept per token, not per secret: those from before the rotation were of the secrets
        // then in force (the current slot's of what is now the previous secret), so they do not count.
        let sinceRotation = { (use: Date?) in use.flatMap { $0 > state.secretRotatedAt ? $0 : nil } }
        return rotation.accepts(
            previous, rotatedAt: state.secretRotatedAt, currentLastUsedAt: latest(state.secretLastUsedAt, sinceRotation(local.current)),
            previousLastUsedAt: latest(previous.lastUsedAt, sinceRotation(local.previous)), now: now)
    }

    private func latest(_ lhs: Date?, _ rhs: Date?) -> Date? {
        switch (lhs, rhs) {
        case (let lhs?, let rhs?): max(lhs, rhs)
        default: lhs ?? rhs
        }
    }

    // MARK: Access tokens

    /// Mints an access token for a verified token; it belongs to the secret it was minted from. ES256, signed by the
    /// keyring's access key (``SigningKeyring``).
    func issueAccessToken(for verified: Verified) async throws -> (token: String, expiresIn: Int) {
        let state = verified.state
        // Whole seconds: NumericDate consumers such as the kube-apiserver expect integers.
        let now = Date(timeIntervalSince1970: clock().timeIntervalSince1970.rounded(.down))
        let claims = AccessTokenClaims(
            iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: state.id.rawValue), aud: AudienceClaim(value: [audience]),
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(accessTokenLifetime)),
            jti: IDClaim(value: Base62.random(length: 22)), org: state.organizationIDText, role: state.role.rawValue,
            gen: verified.generation)
        let keyring = signingKeys.current
        let token = try await keyring.accessKeys.sign(claims, kid: JWKIdentifier(string: keyring.accessKID))
        return (token, Int(accessTokenLifetime))
    }

    /// The current state of the token behind a Bearer access token, if the access token is valid at `now`.
    nonisolated(nonsending) func verify(accessToken: Substring, at now: Date, storeLookup: Bool = true) async throws -> Verified {
        let checked: CheckedAccessToken
        if let cached = verifiedAccessTokens.lookup(accessToken, now: now) {
            checked = cached
        } else {
            // Only the cache holds exactly this token, so the shape is checked on a miss, before any parse.
            guard Self.hasJWTShape(accessToken) else { throw Failure.malformed }
            let claims: AccessTokenClaims
            do {
                claims = try await signingKeys.current.accessKeys.verify(String(accessToken), as: AccessTokenClaims.self)
                try claims.aud.verifyIntendedAudience(includes: audience)
            } catch {
                throw Failure.invalidAccessToken
            }
            guard claims.iss.value == issuer, let verified = CheckedAccessToken(claims) else { throw Failure.invalidAccessToken }
            verifiedAccessTokens.insert(accessToken, claims: verified, now: now)
            checked = verified
        }
        guard checked.exp.value > now else { throw Failure.invalidAccessToken }
        let state = try await currentState(of: checked.tokenID, storeLookup: storeLookup)
        return try verdict(checked, state: state, at: now)
    }

    /// Whether the token, as it is now, still stands behind an access token minted from it.
    private func verdict(_ checked: CheckedAccessToken, state: TokenVerificationState, at now: Date) throws(Failure) -> Verified {
        guard state.organizationID == checked.organizationID else { throw .invalidAccessToken }
        let slot: SecretSlot
        if state.secretGeneration == checked.generation {
            slot = .current
        } else if let previous = state.previousSecret, previous.generation == checked.generation, acceptsPrevious(state, at: now) {
            slot = .previous
        } else {
            throw .staleGeneration
        }
        try checkExpiry(state, at: now)
        return Verified(state: state, slot: slot)
    }

    /// Whether `token` can be a compact JWS at all: under 4 KiB, with exactly two dots. Checked over the bytes at
    /// once, before any parse.
    static func hasJWTShape(_ token: some StringProtocol) -> Bool {
        let bytes = token.utf8
        guard bytes.count < 4096 else { return false }
        var dots = 0
        for byte in bytes where byte == UInt8(ascii: ".") { dots += 1 }
        return dots == 2
    }

    // MARK: From the caches

    /// What `verify(tokenID:secret:…)` or `verify(accessToken:…)` would answer for `credentials`, decided from this
    /// node's caches alone: `nil` when they cannot decide it (a token, or an access token's signature, not cached; a
    /// Basic secret that matches neither digest of its cached token), for the full verification to decide. Never
    /// waits, so a request whose credentials are cached runs no asynchronous function for them: each was a frame of
    /// the task allocator and a call through the async ABI.
    ///
    /// A Basic credential is checked before its formats are: only the secret issued for the token matches one of its
    /// digests, and it was issued well-formed, so the ID and the secret need no parse when they match (their
    /// alphabets and the checksum, with the metadata look-ups they caused, were about 1 % of a Basic request's
    /// instructions, bench/history.md). Anything else is parsed by the full verification, before the store is read.
    func verifyFromCaches(_ credentials: AuthenticationGate.Credentials, at now: Date) throws(Failure) -> Verified? {
        switch credentials {
        case .basic(let rawID, let rawSecret):
            guard let state = cache.lookup(rawID: rawID), let slot = slot(of: rawSecret, in: state, at: now) else { return nil }
            // A miss is counted by the full verification that follows, not here as well.
            metrics.cacheLookup(hit: true)
            try checkExpiry(state, at: now)
            return Verified(state: state, slot: slot)
        case .bearer(let token):
            guard let checked = verifiedAccessTokens.lookup(token, now: now), checked.exp.value > now,
                let state = cache.lookup(checked.tokenID).state
            else { return nil }
            metrics.cacheLookup(hit: true)
            return try verdict(checked, state: state, at: now)
        }
    }

    // MARK: State

    nonisolated(nonsending) func currentState(of id: TokenID, storeLookup: Bool = true) async throws -> TokenVerificationState {
        let (cached, epoch) = cache.lookup(id)
        metrics.cacheLookup(hit: cached != nil)
        if let cached { return cached }
        guard storeLookup else { throw Failure.notCached }
        guard let token = try await store.token(id: id) else { throw Failure.unknownToken }
        let state = TokenVerificationState(token)
        cache.fill(state, epoch: epoch)
        return state
    }

    func checkExpiry(_ state: TokenVerificationState, at now: Date) throws(Failure) {
        if let expiresAt = state.expiresAt, expiresAt <= now { throw .expired(expiresAt) }
    }
}

/// Claims that say when their token expires.
protocol ExpiringClaims: Sendable {
    var exp: ExpirationClaim { get }
}

extension ClusterTokenClaims: ExpiringClaims {}

/// Access tokens whose signature has been verified, kept until they expire.
typealias AccessTokenCache = VerifiedTokenCache<CheckedAccessToken>

/// Cluster tokens presented to the TokenReview webhook whose signature has been verified.
typealias ClusterTokenCache = VerifiedTokenCache<ClusterTokenClaims>
