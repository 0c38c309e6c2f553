import CloudfleetCore
import CloudfleetStore
import Foundation
import JWTKit

extension Authenticator {
    /// Why a token presented to a cluster was refused. Logged at debug level only; the TokenReview answer is a
    /// plain `authenticated: false` either way.
    enum ClusterFailure: Error, Equatable {
        /// Not shaped like a cluster token (a service-account JWT, an opaque token, garbage).
        case foreignFormat
        /// Signature, issuer, audience or use do not match this service and cluster.
        case invalid
        case expired
        case unknownToken
        case staleGeneration
        case otherOrganization
        /// The token's state could not be read: the store is down. Not a verdict about the token.
        case unavailable
    }

    /// Mints a cluster token for a verified token: audience `cluster`, lifetime `lifetime`.
    func issueClusterToken(for verified: Verified, cluster: Cluster, lifetime: TimeInterval) async throws
        -> (token: String, expiresAt: Date)
    {
        let state = verified.state
        let now = Date(timeIntervalSince1970: clock().timeIntervalSince1970.rounded(.down))
        var expiresAt = now.addingTimeInterval(lifetime)
        // A cluster token never outlives the API token it was minted from.
        if let tokenExpiry = state.expiresAt, tokenExpiry < expiresAt {
            expiresAt = Date(timeIntervalSince1970: tokenExpiry.timeIntervalSince1970.rounded(.down))
        }
        let identity = KubernetesIdentity(tokenID: state.id, role: state.role, organizationID: state.organizationID, tokenName: state.name)
        let claims = ClusterTokenClaims(
            iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: state.id.rawValue), aud: AudienceClaim(value: [cluster.id.audience]),
            iat: IssuedAtClaim(value: now), nbf: NotBeforeClaim(value: now), exp: ExpirationClaim(value: expiresAt),
            jti: IDClaim(value: Base62.random(length: 22)), tokenUse: ClusterTokenClaims.use, organizationID: state.organizationIDText,
            clusterID: cluster.id.description, role: state.role.rawValue, secretGeneration: verified.generation,
            tokenName: state.name.rawValue, kubernetesUsername: identity.username, kubernetesGroups: identity.groups)
        let keyring = signingKeys.current
        let token = try await keyring.keys.sign(claims, kid: JWKIdentifier(string: keyring.currentKID))
        return (token, expiresAt)
    }

    /// The current state of the token behind a cluster token presented to `cluster`, and which of its secrets the
    /// cluster token was minted from.
    ///
    /// Foreign formats are refused before any signature check or lookup, and the token itself is never logged.
    /// The token's state is read as it is now, so a deleted, regenerated or expired token is refused even while
    /// its cluster token has not expired, and a role change shows in the next review.
    func verify(clusterToken token: String, for cluster: Cluster) async throws(ClusterFailure) -> Verified {
        let claims: ClusterTokenClaims
        if let cached = verifiedClusterTokens.lookup(Substring(token), now: clock()) {
            claims = cached
        } else {
            // The cache holds verified tokens only: the shape is checked on a miss, before any parse.
            guard Self.hasJWTShape(token),
                token.utf8.first == UInt8(ascii: "e")  // `{"` in base64url: every JWT header starts with "ey".
            else { throw .foreignFormat }
            do {
                claims = try await signingKeys.current.keys.verify(token, as: ClusterTokenClaims.self)
            } catch {
                throw .invalid
            }
            verifiedClusterTokens.insert(Substring(token), claims: claims, now: clock())
        }
        let id = try check(claims, for: cluster)
        let state: TokenVerificationState
        do {
            state = try await currentState(of: id)
        } catch Failure.unknownToken {
            throw .unknownToken
        } catch {
            throw .unavailable
        }
        return try verdict(claims, state: state, for: cluster)
    }

    /// What `verify(clusterToken:for:)` would answer, decided from this node's caches alone: `nil` when the token's
    /// signature or its state is not cached, for the full verification to decide. Never waits and never reads the
    /// store, so it may run on an event loop (`TokenReviewFastPath`).
    func verifyFromCaches(clusterToken token: String, for cluster: Cluster) -> Result<Verified, ClusterFailure>? {
        guard let claims = verifiedClusterTokens.lookup(Substring(token), now: clock()) else { return nil }
        let id: TokenID
        do {
            id = try check(claims, for: cluster)
        } catch {
            return .failure(error)
        }
        // A miss is counted by the full verification that follows, not here as well.
        guard let state = cache.lookup(id).state else { return nil }
        metrics.cacheLookup(hit: true)
        do {
            return .success(try verdict(claims, state: state, for: cluster))
        } catch {
            return .failure(error)
        }
    }

    /// The token ID of verified claims that are for this service, this cluster and the webhook, and not expired.
    private func check(_ claims: ClusterTokenClaims, for cluster: Cluster) throws(ClusterFailure) -> TokenID {
        guard claims.iss.value == issuer, claims.aud.value == [cluster.id.audience], claims.tokenUse == ClusterTokenClaims.use,
            claims.clusterID == cluster.id.description
        else { throw .invalid }
        guard claims.exp.value > clock() else { throw .expired }
        guard let id = TokenID(claims.sub.value) else { throw .invalid }
        return id
    }

    /// Whether the token, as it is now, still stands behind claims minted from it for `cluster`.
    private func verdict(_ claims: ClusterTokenClaims, state: TokenVerificationState, for cluster: Cluster) throws(ClusterFailure)
        -> Verified
    {
        guard state.organizationID == cluster.organizationID, claims.organizationID == cluster.organizationID.description else {
            throw .otherOrganization
        }
        let now = clock()
        let currentGeneration = state.secretGeneration == claims.secretGeneration
        let previousGeneration = state.previousSecret?.generation == claims.secretGeneration && acceptsPrevious(state, at: now)
        guard currentGeneration || previousGeneration else { throw .staleGeneration }
        do {
            try checkExpiry(state, at: now)
        } catch {
            throw .expired
        }
        return Verified(state: state, slot: currentGeneration ? .current : .previous)
    }
}
