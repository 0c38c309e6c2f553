import Foundation
import HTTPTypes
import Hummingbird

/// The OpenID Connect issuer of cluster tokens: `/.well-known/openid-configuration` and the JWKS it names
/// (architecture §5). Kubernetes fetches both over HTTPS and verifies cluster tokens offline with them.
struct OIDCController {
    let issuer: String
    let signingKeys: SigningKeys

    static let jwksPath = "/.well-known/jwks.json"

    func addRoutes(to router: AppRouter) {
        router.get(".well-known/openid-configuration", use: discovery)
        router.get(".well-known/jwks.json", use: jwks)
    }

    struct Discovery: ResponseEncodable {
        let issuer: String
        let jwksURI: String
        let tokenEndpoint: String
        let responseTypesSupported = ["id_token"]
        let subjectTypesSupported = ["public"]
        /// The algorithms of the published keys, the one that signs now first.
        let idTokenSigningAlgValuesSupported: [String]
        let grantTypesSupported = ["client_credentials"]
        let tokenEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post"]
        let claimsSupported = [
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "org", "role", "gen", "cluster", "token_use", "token_name", "k8s_username",
            "k8s_groups",
        ]

        enum CodingKeys: String, CodingKey {
            case issuer
            case jwksURI = "jwks_uri"
            case tokenEndpoint = "token_endpoint"
            case responseTypesSupported = "response_types_supported"
            case subjectTypesSupported = "subject_types_supported"
            case idTokenSigningAlgValuesSupported = "id_token_signing_alg_values_supported"
            case grantTypesSupported = "grant_types_supported"
            case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
            case claimsSupported = "claims_supported"
        }
    }

    struct JWKS: ResponseEncodable {
        let keys: [SigningKeyring.PublicJWK]
    }

    @Sendable func discovery(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Discovery> {
        EditedResponse(
            headers: [.cacheControl: "public, max-age=300"],
            response: Discovery(
                issuer: issuer, jwksURI: issuer + Self.jwksPath, tokenEndpoint: issuer + "/v1/auth/token",
                idTokenSigningAlgValuesSupported: signingKeys.current.algorithms.map(\.rawValue)))
    }

    @Sendable func jwks(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<JWKS> {
        // Short-lived: after a rotation, verifiers that cache the set must see the new key soon.
        EditedResponse(headers: [.cacheControl: "public, max-age=60"], response: JWKS(keys: signingKeys.current.publicJWKs))
    }
}
