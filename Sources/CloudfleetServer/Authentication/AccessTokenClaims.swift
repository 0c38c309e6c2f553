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
