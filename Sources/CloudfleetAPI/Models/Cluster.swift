import Foundation

/// A registered Kubernetes cluster as the API describes it, with what its API server needs to trust the
/// organization's tokens. Every field is always present; absent values are `null`.
public struct ClusterInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var organizationID: String
    /// The kube-apiserver URL written into kubeconfigs.
    public var apiEndpoint: String
    /// PEM certificates that verify the kube-apiserver, or `null` for the system roots.
    public var caBundle: String?
    /// The OIDC issuer of cluster tokens (`iss`), also the discovery base URL.
    public var issuer: String
    /// The `aud` of this cluster's tokens.
    public var audience: String
    /// Where the kube-apiserver sends TokenReviews in webhook mode.
    public var tokenReviewURL: String
    /// PEM certificates that verify this service's TLS certificate, if the operator published them.
    public var issuerCABundle: String?
    /// Whether a webhook credential has been issued.
    public var webhookConfigured: Bool
    public var createdAt: Date
    public var updatedAt: Date
    public var createdBy: String

    public init(
        id: String, name: String, organizationID: String, apiEndpoint: String, caBundle: String?, issuer: String, audience: String,
        tokenReviewURL: String, issuerCABundle: String?, webhookConfigured: Bool, createdAt: Date, updatedAt: Date, createdBy: String
    ) {
        self.id = id
        self.name = name
        self.organizationID = organizationID
        self.apiEndpoint = apiEndpoint
        self.caBundle = caBundle
        self.issuer = issuer
        self.audience = audience
        self.tokenReviewURL = tokenReviewURL
        self.issuerCABundle = issuerCABundle
        self.webhookConfigured = webhookConfigured
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
    }

    enum CodingKeys: String, CodingKey {
        case id, name, issuer, audience
        case organizationID = "organization_id"
        case apiEndpoint = "api_endpoint"
        case caBundle = "ca_bundle"
        case tokenReviewURL = "token_review_url"
        case issuerCABundle = "issuer_ca_bundle"
        case webhookConfigured = "webhook_configured"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case createdBy = "created_by"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(organizationID, forKey: .organizationID)
        try container.encode(apiEndpoint, forKey: .apiEndpoint)
        try container.encode(caBundle, forKey: .caBundle)
        try container.encode(issuer, forKey: .issuer)
        try container.encode(audience, forKey: .audience)
        try container.encode(tokenReviewURL, forKey: .tokenReviewURL)
        try container.encode(issuerCABundle, forKey: .issuerCABundle)
        try container.encode(webhookConfigured, forKey: .webhookConfigured)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(createdBy, forKey: .createdBy)
    }
}

/// The only copy of a cluster's new webhook credential, as `POST /v1/clusters/{id}/webhook-credential` answers.
public struct WebhookCredentialIssued: Codable, Sendable, Equatable {
    public var clusterID: String
    public var credential: String

    public init(clusterID: String, credential: String) {
        self.clusterID = clusterID
        self.credential = credential
    }

    enum CodingKeys: String, CodingKey {
        case clusterID = "cluster_id"
        case credential
    }
}

/// A short-lived token for one cluster, as `POST /v1/clusters/{id}/token` answers.
public struct ClusterToken: Codable, Sendable, Equatable {
    /// The JWT the kube-apiserver receives as a bearer token.
    public var token: String
    public var tokenType: String
    public var expiresAt: Date
    public var expiresIn: Int
    public var clusterID: String

    public init(token: String, tokenType: String = "Bearer", expiresAt: Date, expiresIn: Int, clusterID: String) {
        self.token = token
        self.tokenType = tokenType
        self.expiresAt = expiresAt
        self.expiresIn = expiresIn
        self.clusterID = clusterID
    }

    enum CodingKeys: String, CodingKey {
        case token
        case tokenType = "token_type"
        case expiresAt = "expires_at"
        case expiresIn = "expires_in"
        case clusterID = "cluster_id"
    }
}
