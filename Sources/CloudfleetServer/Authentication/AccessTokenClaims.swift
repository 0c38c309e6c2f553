import CloudfleetCore
import Foundation
import JWTKit

/// The claims of an access token minted by `/v1/auth/token` (architecture §4).
struct AccessTokenClaims: JWTPayload, Equatable {
    var iss: IssuerClaim
    /// The token ID.
    var sub: SubjectClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    /// The organization ID.
    var org: String
    /// The role when minted; informative only, authorization uses the role in force.
    var role: String
    /// The secret generation when minted; the token is refused once the secret is regenerated.
    var gen: Int

    /// Expiry is checked by the caller against the service's injected clock, not here against the wall clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// What a verified access token says, in the types authentication compares: read once, when its signature has
/// checked out, and then kept by the cache of verified tokens. A request that finds its token there takes one
/// reference, and parses no subject and formats no organization ID.
final class CheckedAccessToken: ExpiringClaims {
    let exp: ExpirationClaim
    let tokenID: TokenID
    let organizationID: OrganizationID
    /// The secret generation the token was minted from (`gen`).
    let generation: Int

    /// `nil` unless `sub` is a token ID and `org` an organization ID, written as the server writes it.
    init?(_ claims: AccessTokenClaims) {
        guard let tokenID = TokenID(claims.sub.value), let organizationID = OrganizationID(claims.org),
            organizationID.description == claims.org
        else { return nil }
        self.exp = claims.exp
        self.tokenID = tokenID
        self.organizationID = organizationID
        self.generation = claims.gen
    }
}
