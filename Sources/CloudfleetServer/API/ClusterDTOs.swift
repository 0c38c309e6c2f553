import CloudfleetAPI
import CloudfleetCore
import CloudfleetStore
import Foundation

/// `POST /v1/clusters`.
struct CreateClusterRequest: Decodable {
    let name: String
    let apiEndpoint: String
    let caBundle: String?

    private enum CodingKeys: String, CodingKey {
        case name
        case apiEndpoint = "api_endpoint"
        case caBundle = "ca_bundle"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["name", "api_endpoint", "ca_bundle"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.apiEndpoint = try container.decode(String.self, forKey: .apiEndpoint)
        self.caBundle = try container.decodeIfPresent(String.self, forKey: .caBundle)
    }
}

/// What every cluster description shares: where this service is reached, from the configuration.
struct KubernetesEndpoints: Sendable {
    /// The issuer of cluster tokens and the base of the OIDC discovery document.
    let issuer: String
    /// The CA bundle that verifies this service's certificate, if the operator published one.
    let issuerCABundle: String?

    func tokenReviewURL(_ id: ClusterID) -> String { issuer + "/v1/clusters/\(id)/tokenreview" }
}

extension ClusterInfo {
    /// The API form of a stored cluster: never the webhook credential or its digest.
    init(_ cluster: Cluster, endpoints: KubernetesEndpoints) {
        self.init(
            id: cluster.id.description, name: cluster.name.rawValue, organizationID: cluster.organizationID.description,
            apiEndpoint: cluster.apiEndpoint, caBundle: cluster.caBundle, issuer: endpoints.issuer, audience: cluster.id.audience,
            tokenReviewURL: endpoints.tokenReviewURL(cluster.id), issuerCABundle: endpoints.issuerCABundle,
            webhookConfigured: cluster.webhookCredentialDigest != nil, createdAt: cluster.createdAt, updatedAt: cluster.updatedAt,
            createdBy: cluster.createdBy)
    }
}
