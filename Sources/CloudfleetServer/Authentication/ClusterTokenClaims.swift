import CloudfleetCore
import Foundation
import JWTKit

/// The claims of a cluster token minted by `/v1/clusters/{id}/token` (architecture §5).
///
/// Besides `sub`, role and organization they carry the finished Kubernetes user name and groups, because
/// `--oidc-*` flags and EKS map claims without expressions.
struct ClusterTokenClaims: JWTPayload, Equatable {
    /// The value of `token_use` that marks a cluster token.
    static let use = "kube"

    var iss: IssuerClaim
    /// The token ID.
    var sub: SubjectClaim
    /// The cluster's audience, exactly one.
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var nbf: NotBeforeClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var tokenUse: String
    var organizationID: String
    var clusterID: String
    var role: String
    var secretGeneration: Int
    var tokenName: String
    var kubernetesUsername: String
    var kubernetesGroups: [String]

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, iat, nbf, exp, jti, role
        case tokenUse = "token_use"
        case organizationID = "org"
        case clusterID = "cluster"
        case secretGeneration = "gen"
        case tokenName = "token_name"
        case kubernetesUsername = "k8s_username"
        case kubernetesGroups = "k8s_groups"
    }

    /// Expiry is checked by the caller against the service's injected clock, not here against the wall clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
